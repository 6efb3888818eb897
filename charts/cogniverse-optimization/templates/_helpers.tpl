{{/*
Names, labels and the values-derived pieces every template shares.

Names are not release-derived: the workflow definitions (files/, rendered from workflows/ by
Hera) and `argo submit --from workflowtemplate/...` refer to the WorkflowTemplates and
CronWorkflows by name, so one release per namespace. nameOverride / fullnameOverride rename the
chart's own objects (the pipeline ConfigMap, the Role and RoleBinding; the chart patches every
reference in the workflows), never the WorkflowTemplates.
*/}}

{{- define "cogniverse.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of the chart's own object names: fullnameOverride, else the name. */}}
{{- define "cogniverse.fullname" -}}
{{- .Values.fullnameOverride | default (include "cogniverse.name" .) | trunc 56 | trimSuffix "-" -}}
{{- end -}}

{{/* The ConfigMap holding the pipeline configuration (`<fullname>-config`; the workflows' mounts and env refs are patched to it). */}}
{{- define "cogniverse.configMapName" -}}
{{- printf "%s-config" (include "cogniverse.fullname" .) -}}
{{- end -}}

{{/* Role and RoleBinding for the workflow pods. */}}
{{- define "cogniverse.roleName" -}}
{{- printf "%s-workflow" (include "cogniverse.fullname" .) -}}
{{- end -}}

{{/*
A tenant's CronWorkflow name: "<cron>-<tenant>", at most 52 characters (Argo names each run
"<cron>-<10-digit timestamp>", 63 at most). Longer: its first 43 characters, "-" and 8 hex
digits of the SHA-256 of the full name (unique per tenant, stable across upgrades).
Argument: dict "cron" <name> "tenant" <id>.
*/}}
{{- define "cogniverse.cronName" -}}
{{- $name := printf "%s-%s" .cron .tenant -}}
{{- if gt (len $name) 52 -}}
{{- $name = printf "%s-%s" (trunc 43 $name | trimSuffix "-") (sha256sum $name | trunc 8) -}}
{{- end -}}
{{- $name -}}
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
