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
{{- with .Values.kafka.sasl.existingSecret }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ . | quote }}, key: {{ $.Values.kafka.sasl.usernameKey | quote }}}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ . | quote }}, key: {{ $.Values.kafka.sasl.passwordKey | quote }}}
{{- end }}
- name: ZEEK_MGMT_KAFKA_OPTIONS
  value: {{ include "zeek-mgmt.kafkaOptions" . | trim | quote }}
{{- end }}

{{/* librdkafka properties, one per line; secrets are referenced, never written out. */}}
{{- define "zeek-mgmt.kafkaOptions" -}}
{{- range $key, $value := .Values.kafka.options }}
{{ $key }}={{ $value }}
{{- end }}
{{- if .Values.kafka.sasl.existingSecret }}
sasl.username=$(KAFKA_SASL_USERNAME)
sasl.password=$(KAFKA_SASL_PASSWORD)
{{- end }}
{{- with .Values.kafka.tls.existingSecret }}
ssl.ca.location=/etc/zeek-mgmt/kafka-tls/{{ $.Values.kafka.tls.caFile }}
{{- if $.Values.kafka.tls.certFile }}
ssl.certificate.location=/etc/zeek-mgmt/kafka-tls/{{ $.Values.kafka.tls.certFile }}
ssl.key.location=/etc/zeek-mgmt/kafka-tls/{{ $.Values.kafka.tls.keyFile }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Kafka TLS secret as a volume, and its mount (only when kafka.tls.existingSecret is set). */}}
{{- define "zeek-mgmt.tlsVolume" -}}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret | quote }}
{{- end }}
{{- define "zeek-mgmt.tlsMount" -}}
- name: kafka-tls
  mountPath: /etc/zeek-mgmt/kafka-tls
  readOnly: true
{{- end }}
