#ifndef ZEEK_MGMT_CCURL_H
#define ZEEK_MGMT_CCURL_H

#include <stddef.h>

/// The outcome of one HTTP request.
typedef struct {
    /// HTTP status, or 0 when no response arrived.
    long status;
    /// libcurl's description of a transport failure (empty on success).
    char error[256];
    /// The start of the response body (for error reports), NUL-terminated.
    char body[512];
} zm_http_result;

/// Performs one HTTP request with libcurl: `method` (PUT, POST, DELETE, GET) to `url`, with
/// `body` (may be NULL) sent as `content_type`. Gives up after `timeout_ms`.
/// Returns libcurl's CURLcode (0 = a response arrived; check `status`).
///
/// A C helper because libcurl's options are set through a variadic function Swift cannot call.
int zm_http_request(const char *method, const char *url, const char *body, size_t body_length,
                    const char *content_type, long timeout_ms, zm_http_result *result);

#endif
