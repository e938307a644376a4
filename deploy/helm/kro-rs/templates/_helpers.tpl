{{/* Chart name, overridable. */}}
{{- define "kro.name" -}}
{{- default "kro" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of the Deployment and related objects, as upstream's chart names them: fullnameOverride,
else the release name when it contains the chart name ("kro"), else "<release>-kro". Objects keep
their names when a release moves from upstream's chart to this one (helm upgrade patches them in
place), and two releases in one cluster never share a cluster-scoped name. */}}
{{- define "kro.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kro.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
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

{{/* serviceAccount.name, else (as upstream) the full name when the chart creates the account and
"default" when it does not. */}}
{{- define "kro.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kro.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator's ClusterRole (and its binding), named as upstream's chart names them in each RBAC
mode: a binding's roleRef cannot change, so switching modes replaces the binding. */}}
{{- define "kro.controllerRoleName" -}}
{{- if eq .Values.rbac.mode "unrestricted" -}}
{{- printf "%s-cluster-role" (include "kro.fullname" .) -}}
{{- else -}}
{{- printf "%s:controller" (include "kro.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "kro.controllerRoleBindingName" -}}
{{- if eq .Values.rbac.mode "unrestricted" -}}
{{- printf "%s-cluster-role-binding" (include "kro.fullname" .) -}}
{{- else -}}
{{- printf "%s:controller" (include "kro.fullname" .) -}}
{{- end -}}
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
