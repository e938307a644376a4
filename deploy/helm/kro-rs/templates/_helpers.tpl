{{/* Chart name, overridable. */}}
{{- define "kro.name" -}}
{{- default "kro" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of the Deployment and related objects. */}}
{{- define "kro.fullname" -}}
{{- default (include "kro.name" .) .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object: metadata.include* switch the chart and managed-by labels, and
additionalLabels are added, as in upstream's chart. */}}
{{- define "kro.labels" -}}
{{ include "kro.selectorLabels" . }}
app.kubernetes.io/part-of: kro-rs
app.kubernetes.io/component: controller
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- if .Values.metadata.includeHelmChart }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- if .Values.metadata.includeManagedBy }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels selecting the operator's pods: upstream's keys (name and instance). */}}
{{- define "kro.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kro.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kro.serviceAccountName" -}}
{{- default "kro" .Values.serviceAccount.name -}}
{{- end -}}

{{/* The port of a Go-style bind address such as ":8078" or "0.0.0.0:8078". */}}
{{- define "kro.port" -}}
{{- regexReplaceAll "^.*:" . "" -}}
{{- end -}}

{{/* The metrics container port: from config.metricsBindAddress, else deployment.containerPort. */}}
{{- define "kro.metricsPort" -}}
{{- regexFind "[0-9]+$" (regexFind ":[0-9]+$" .Values.config.metricsBindAddress) | default .Values.deployment.containerPort -}}
{{- end -}}

{{/* deployment.replicas (older kro-rs key) when set, else deployment.replicaCount. */}}
{{- define "kro.replicas" -}}
{{- if kindIs "invalid" .Values.deployment.replicas -}}
{{- .Values.deployment.replicaCount -}}
{{- else -}}
{{- .Values.deployment.replicas -}}
{{- end -}}
{{- end -}}
