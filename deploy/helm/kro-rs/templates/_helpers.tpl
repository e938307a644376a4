{{/* Chart name, overridable. */}}
{{- define "kro.name" -}}
{{- default "kro" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of the Deployment and related objects. */}}
{{- define "kro.fullname" -}}
{{- default (include "kro.name" .) .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "kro.labels" -}}
app.kubernetes.io/name: kro-rs
app.kubernetes.io/part-of: kro-rs
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels selecting the operator's pods. */}}
{{- define "kro.selectorLabels" -}}
app.kubernetes.io/name: kro-rs
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kro.serviceAccountName" -}}
{{- default "kro" .Values.serviceAccount.name -}}
{{- end -}}

{{/* The port of a Go-style bind address such as ":8078" or "0.0.0.0:8078". */}}
{{- define "kro.port" -}}
{{- regexReplaceAll "^.*:" . "" -}}
{{- end -}}
