#include "ccurl.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *buffer;
    size_t capacity;
    size_t length;
} body_sink;

static size_t keep_body_start(char *data, size_t size, size_t count, void *user) {
    body_sink *sink = user;
    size_t bytes = size * count;
    size_t room = sink->capacity - 1 - sink->length;
    size_t copied = bytes < room ? bytes : room;
    memcpy(sink->buffer + sink->length, data, copied);
    sink->length += copied;
    sink->buffer[sink->length] = '\0';
    return bytes;
}

int zm_http_request(const char *method, const char *url, const char *body, size_t body_length,
                    const char *content_type, long timeout_ms, zm_http_result *result) {
    memset(result, 0, sizeof *result);
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        snprintf(result->error, sizeof result->error, "curl_easy_init failed");
        return CURLE_FAILED_INIT;
    }
    body_sink sink = {result->body, sizeof result->body, 0};
    char error[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_body_start);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
    }
    if (content_type != NULL) {
        char header[256];
        snprintf(header, sizeof header, "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, header);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }

    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result->status);
    } else {
        snprintf(result->error, sizeof result->error, "%s", error[0] ? error : curl_easy_strerror(code));
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return code;
}
