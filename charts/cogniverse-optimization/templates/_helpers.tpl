{{/*
Names, labels and the values-derived pieces every template shares.

Fixed names: the workflow definitions (files/, rendered from workflows/ by Hera) refer to these
objects by name, so they are constants here, not release-derived. One release per namespace.
*/}}

{{- define "cogniverse.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The ConfigMap holding the pipeline configuration (workflows mount it by this name). */}}
{{- define "cogniverse.configMapName" -}}
cogniverse-optimization-config
{{- end -}}

{{/* Role and RoleBinding for the workflow pods. */}}
{{- define "cogniverse.roleName" -}}
cogniverse-optimization-workflow
{{- end -}}

{{- define "cogniverse.serviceAccountName" -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}

{{/* Standard labels (Kubernetes recommended app.kubernetes.io/* set). */}}
{{- define "cogniverse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "cogniverse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cogniverse
{{- end -}}

{{- define "cogniverse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cogniverse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
A step image: "<repository>:<tag>[<suffix>][@<digest>]". Argument: dict "root" $ "light" bool.
*/}}
{{- define "cogniverse.image" -}}
{{- $image := .root.Values.image -}}
{{- $tag := $image.tag | default .root.Chart.AppVersion -}}
{{- $digest := $image.digest -}}
{{- if .light -}}
{{- $tag = printf "%s%s" $tag $image.light.tagSuffix -}}
{{- $digest = $image.light.digest -}}
{{- end -}}
{{- if eq $tag "latest" -}}
{{- fail "image tag \"latest\" is not allowed: name the version the release runs" -}}
{{- end -}}
{{- printf "%s:%s" $image.repository $tag -}}
{{- with $digest }}@{{ . }}{{ end -}}
{{- end -}}

{{/* The S3 endpoint as a URL for the pipeline (Argo takes host:port plus `insecure`). */}}
{{- define "cogniverse.storageEndpointURL" -}}
{{- with .Values.objectStore.endpoint -}}
{{- printf "%s://%s" (ternary "http" "https" $.Values.objectStore.insecure) . -}}
{{- end -}}
{{- end -}}

{{/*
The pipeline configuration as a dict: values.config plus `storage`, derived from objectStore
(one bucket for the pipeline and Argo's artifact repository).
*/}}
{{- define "cogniverse.pipelineConfig" -}}
{{- $config := deepCopy .Values.config -}}
{{- $storage := dict "url" (printf "s3://%s" .Values.objectStore.bucket) "region" .Values.objectStore.region "allow_http" .Values.objectStore.insecure "access_key_env" "AWS_ACCESS_KEY_ID" "secret_key_env" "AWS_SECRET_ACCESS_KEY" -}}
{{- with include "cogniverse.storageEndpointURL" . -}}
{{- $_ := set $storage "endpoint" . -}}
{{- end -}}
{{- $_ := set $config "storage" $storage -}}
{{- toYaml $config -}}
{{- end -}}
