{{/* Labels every object of the release carries. */}}
{{- define "zeek-mgmt.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Kafka settings every container shares, as environment variables. */}}
{{- define "zeek-mgmt.kafkaEnv" -}}
- name: ZEEK_MGMT_BROKERS
  value: {{ .Values.kafka.brokers | quote }}
- name: ZEEK_MGMT_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: ZEEK_MGMT_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: ZEEK_MGMT_KAFKA_OPTIONS
  value: {{ include "zeek-mgmt.kafkaOptions" . | trim | quote }}
{{- end }}

{{/* librdkafka properties, one per line; secrets come from mounted files, never from values. */}}
{{- define "zeek-mgmt.kafkaOptions" -}}
{{- range $key, $value := .Values.kafka.options }}
{{ $key }}={{ $value }}
{{- end }}
{{- with .Values.kafka.tls.existingSecret }}
ssl.ca.location=/etc/zeek-mgmt/kafka-tls/{{ $.Values.kafka.tls.caFile }}
{{- if $.Values.kafka.tls.certFile }}
ssl.certificate.location=/etc/zeek-mgmt/kafka-tls/{{ $.Values.kafka.tls.certFile }}
ssl.key.location=/etc/zeek-mgmt/kafka-tls/{{ $.Values.kafka.tls.keyFile }}
{{- end }}
{{- end }}
{{- end }}

{{/* Kafka's TLS files (kafka.tls.existingSecret), the same for every component: their volume and
their mount. Each component's login is a Secret of its own, mounted in its templates. */}}
{{- define "zeek-mgmt.tlsVolume" -}}
{{- with .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ . | quote }}
    defaultMode: 0440
{{- end }}
{{- end }}
{{- define "zeek-mgmt.tlsMount" -}}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/zeek-mgmt/kafka-tls
  readOnly: true
{{- end }}
{{- end }}

{{/* Non-empty when the controller mounts a Secret of the zeek-client gateway. */}}
{{- define "zeek-mgmt.websocketSecrets" -}}
{{- if .Values.controller.websocketPort }}
{{- if or .Values.controller.websocketTLS.existingSecret .Values.controller.websocketClients.existingSecret }}true{{ end }}
{{- end }}
{{- end }}

{{/* The trust file every container reads: its variable, its mount, and the Secret's volume. */}}
{{- define "zeek-mgmt.trustEnv" -}}
- name: ZEEK_MGMT_TRUST_FILE
  value: /etc/zeek-mgmt/trust/{{ .Values.signing.trust.key }}
{{- end }}
{{- define "zeek-mgmt.trustMount" -}}
- name: trust
  mountPath: /etc/zeek-mgmt/trust
  readOnly: true
{{- end }}
{{- define "zeek-mgmt.trustVolume" -}}
# Public keys only: readable by every container's user.
- name: trust
  secret:
    secretName: {{ .Values.signing.trust.existingSecret | quote }}
    defaultMode: 0444
{{- end }}
