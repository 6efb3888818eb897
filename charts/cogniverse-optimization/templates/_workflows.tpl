{{/*
Patching the Hera-rendered workflow objects (files/*.yaml) with values.

The files are the one source of truth for the workflows' structure. They hold Argo's own
`{{...}}` expressions, so they are never run through Helm's template engine: each file is read
with .Files.Get, parsed with fromYaml, changed in place with `set`, and written with toYaml.
Only values-owned fields change: image, pull policy, resources, security contexts, pod
placement and metadata, extra env, service account, artifact repository, ConfigMap and Secret
names, parameter defaults, cron schedules; with `tenants`, each CronWorkflow is copied per
tenant under its own name.
*/}}

{{/* The names the workflow definitions use (workflows/common.py). */}}
{{- define "cogniverse.workflowS3Secret" -}}cogniverse-optimization-s3{{- end -}}
{{- define "cogniverse.workflowLLMSecret" -}}cogniverse-optimization-llm{{- end -}}
{{- define "cogniverse.workflowConfigMap" -}}cogniverse-optimization-config{{- end -}}
{{- define "cogniverse.cli" -}}cogniverse-optimize{{- end -}}

{{/*
The pod placement and metadata of a workflow: values.workflowPods, with a tenant's own
`workflowPods` over it (labels, annotations and nodeSelector merge, the tenant's key winning;
tolerations add up; the tenant's affinity replaces the global one). Only non-empty fields.
Argument: dict "root" $ "tenantPods" <dict or nil>. Returns YAML.
*/}}
{{- define "cogniverse.podPlacement" -}}
{{- $pods := .root.Values.workflowPods -}}
{{- $own := .tenantPods | default dict -}}
{{- $out := dict -}}
{{- $meta := dict -}}
{{- range $field := list "labels" "annotations" -}}
{{- $merged := merge (deepCopy (dig "podMetadata" $field dict $own)) (deepCopy (dig "podMetadata" $field dict $pods)) -}}
{{- with $merged }}{{ $_ := set $meta $field . }}{{ end -}}
{{- end -}}
{{- with $meta }}{{ $_ := set $out "podMetadata" . }}{{ end -}}
{{- with merge (deepCopy ($own.nodeSelector | default dict)) (deepCopy ($pods.nodeSelector | default dict)) -}}
{{- $_ := set $out "nodeSelector" . -}}
{{- end -}}
{{- with concat ($pods.tolerations | default list) ($own.tolerations | default list) -}}
{{- $_ := set $out "tolerations" (deepCopy .) -}}
{{- end -}}
{{- with ($own.affinity | default $pods.affinity) -}}
{{- $_ := set $out "affinity" (deepCopy .) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Patch one workflow spec in place (a WorkflowTemplate's spec or a CronWorkflow's workflowSpec).
Argument: dict "root" $ "spec" <spec> "object" <kind/name, for messages>
  "layers" <parameter layers, see patchParameters> "tenantPods" <a tenant's workflowPods or nil>.
*/}}
{{- define "cogniverse.patchWorkflowSpec" -}}
{{- $root := .root -}}
{{- $spec := .spec -}}
{{- $pods := $root.Values.workflowPods -}}
{{- if hasKey $spec "serviceAccountName" -}}
{{- $_ := set $spec "serviceAccountName" (include "cogniverse.serviceAccountName" $root) -}}
{{- end -}}
{{- if hasKey $spec "artifactRepositoryRef" -}}
{{- $_ := set $spec "artifactRepositoryRef" (dict "configMap" $root.Values.artifactRepository.configMapName "key" $root.Values.artifactRepository.key) -}}
{{- end -}}
{{- range $volume := ($spec.volumes | default list) -}}
{{- if and $volume.configMap (eq $volume.configMap.name (include "cogniverse.workflowConfigMap" $root)) -}}
{{- $_ := set $volume.configMap "name" (include "cogniverse.configMapName" $root) -}}
{{- end -}}
{{- end -}}
{{- /* Placement: on a full spec always; on a workflowTemplateRef-only spec (the template has
  the global settings) only a tenant's own, which Argo merges over the template's. */ -}}
{{- if or (hasKey $spec "templates") .tenantPods -}}
{{- range $key, $value := (include "cogniverse.podPlacement" (dict "root" $root "tenantPods" .tenantPods) | fromYaml) -}}
{{- $_ := set $spec $key $value -}}
{{- end -}}
{{- end -}}
{{- if hasKey $spec "templates" -}}
{{- /* A full spec (not only a workflowTemplateRef): pod-level settings live here. */ -}}
{{- $_ := set $spec "securityContext" (deepCopy $pods.podSecurityContext) -}}
{{- with $root.Values.imagePullSecrets -}}
{{- $secrets := list -}}
{{- range . -}}{{- $secrets = append $secrets (dict "name" .) -}}{{- end -}}
{{- $_ := set $spec "imagePullSecrets" $secrets -}}
{{- end -}}
{{- with $pods.priorityClassName -}}{{- $_ := set $spec "podPriorityClassName" . -}}{{- end -}}
{{- range $template := $spec.templates -}}
{{- with $template.container -}}
{{- if eq (first (.command | default (list ""))) (include "cogniverse.cli" $root) -}}
{{- include "cogniverse.patchStepContainer" (dict "root" $root "container" . "object" (printf "%s template %s" $.object $template.name)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "cogniverse.patchParameters" (dict "root" $root "arguments" $spec.arguments "object" .object "layers" .layers) -}}
{{- end -}}

{{/*
One step container running `cogniverse-optimize <command> ...`.
Argument: dict "root" $ "container" <container> "object" <for messages>.
*/}}
{{- define "cogniverse.patchStepContainer" -}}
{{- $root := .root -}}
{{- $c := .container -}}
{{- $values := $root.Values -}}
{{- $command := first ($c.args | default (list "")) -}}
{{- if not $command -}}
{{- fail (printf "%s: a %s step without a subcommand in args" .object (include "cogniverse.cli" $root)) -}}
{{- end -}}
{{- $light := and $values.image.light.enabled (has $command $values.image.light.commands) -}}
{{- $_ := set $c "image" (include "cogniverse.image" (dict "root" $root "light" $light)) -}}
{{- $_ := set $c "imagePullPolicy" $values.image.pullPolicy -}}
{{- $_ := set $c "securityContext" (deepCopy $values.workflowPods.containerSecurityContext) -}}
{{- with index $values.workflowPods.resources $command -}}
{{- $_ := set $c "resources" (deepCopy .) -}}
{{- end -}}
{{- /* Object-store keys: the user's Secret and key names, or none with workload identity. */ -}}
{{- $credentials := $values.objectStore.credentials -}}
{{- $keys := dict "access-key-id" $credentials.accessKeyIdKey "secret-access-key" $credentials.secretAccessKeyKey -}}
{{- $env := list -}}
{{- $own := dict -}}
{{- range $entry := ($c.env | default list) -}}
{{- $_ := set $own $entry.name true -}}
{{- $ref := dig "valueFrom" "secretKeyRef" dict $entry -}}
{{- $configRef := dig "valueFrom" "configMapKeyRef" dict $entry -}}
{{- if and $configRef (eq (get $configRef "name") (include "cogniverse.workflowConfigMap" $root)) -}}
{{- $_ := set $configRef "name" (include "cogniverse.configMapName" $root) -}}
{{- end -}}
{{- if and $ref (eq (get $ref "name") (include "cogniverse.workflowS3Secret" $root)) -}}
{{- if $credentials.existingSecret -}}
{{- if not (hasKey $keys $ref.key) -}}
{{- fail (printf "%s: unknown key %q of Secret %s" $.object $ref.key $ref.name) -}}
{{- end -}}
{{- $_ := set $ref "key" (get $keys $ref.key) -}}
{{- $_ := set $ref "name" $credentials.existingSecret -}}
{{- $env = append $env $entry -}}
{{- end -}}
{{- else -}}
{{- $env = append $env $entry -}}
{{- end -}}
{{- end -}}
{{- /* workflowPods.extraEnv after the workflow's own, which it may not redefine. */ -}}
{{- range $extra := ($values.workflowPods.extraEnv | default list) -}}
{{- if hasKey $own $extra.name -}}
{{- fail (printf "workflowPods.extraEnv: %s is set by the workflows themselves (%s); it cannot be overridden" $extra.name $.object) -}}
{{- end -}}
{{- $env = append $env (deepCopy $extra) -}}
{{- end -}}
{{- if $env -}}{{- $_ := set $c "env" $env -}}{{- end -}}
{{- range $entry := ($c.envFrom | default list) -}}
{{- $ref := $entry.secretRef | default dict -}}
{{- if eq (get $ref "name") (include "cogniverse.workflowLLMSecret" $root) -}}
{{- $_ := set $ref "name" $values.llmSecret.existingSecret -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Parameter defaults, in layers applied in order (a later layer wins):
`improvement-threshold` from config.gate.improvement_threshold (the pipeline's own), then each
layer: dict "values" <name → value> "strict" <bool>. A strict layer naming a parameter the
object does not declare fails the render (a typo must not pass silently); a loose one
(values.workflowParameters, a tenant's workflowParameters) applies where declared.
Argument: dict "root" $ "arguments" <arguments or nil> "object" <name> "layers" <list>.
*/}}
{{- define "cogniverse.patchParameters" -}}
{{- $root := .root -}}
{{- $declared := dict -}}
{{- if .arguments -}}
{{- range $p := (.arguments.parameters | default list) -}}{{- $_ := set $declared $p.name $p -}}{{- end -}}
{{- end -}}
{{- $values := dict -}}
{{- $gate := $root.Values.config.gate | default dict -}}
{{- if and (hasKey $declared "improvement-threshold") (hasKey $gate "improvement_threshold") -}}
{{- $_ := set $values "improvement-threshold" $gate.improvement_threshold -}}
{{- end -}}
{{- range $layer := .layers -}}
{{- range $name, $value := ($layer.values | default dict) -}}
{{- if hasKey $declared $name -}}
{{- $_ := set $values $name $value -}}
{{- else if $layer.strict -}}
{{- fail (printf "%s declares no parameter %q (it has: %s)" $.object $name (keys $declared | sortAlpha | join ", ")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := $values -}}
{{- $_ := set (get $declared $name) "value" (toString $value) -}}
{{- end -}}
{{- end -}}

{{/*
Every installable object of files/, patched, as YAML: `items` is a list of dict "path" <file>
"doc" <object> "tenant" <id or "">. WorkflowTemplates once; CronWorkflows once each, or, with
values.tenants, once per tenant (and cron the tenant does not disable), named by
cogniverse.cronName. workflows.yaml writes them; NOTES.txt summarises the same list.
*/}}
{{- define "cogniverse.workflowObjects" -}}
{{- $root := . -}}
{{- $items := list -}}
{{- $installable := list "WorkflowTemplate" "CronWorkflow" -}}
{{- $tenantIds := dict -}}
{{- range $tenant := $root.Values.tenants -}}
{{- if hasKey $tenantIds $tenant.id -}}
{{- fail (printf "tenants: tenant id %q is listed twice" $tenant.id) -}}
{{- end -}}
{{- $_ := set $tenantIds $tenant.id true -}}
{{- end -}}
{{- $names := dict -}}
{{- range $path, $_ := $root.Files.Glob "files/*.yaml" -}}
{{- $probe := $root.Files.Get $path | fromYaml -}}
{{- if hasKey $probe "Error" -}}
{{- fail (printf "%s: not valid YAML: %s" $path $probe.Error) -}}
{{- end -}}
{{- if not (has $probe.kind $installable) -}}
{{- if ne $probe.kind "Workflow" -}}
{{- fail (printf "%s: kind %s is neither installable (%s) nor a submission example (Workflow)" $path $probe.kind (join ", " $installable)) -}}
{{- end -}}
{{- else -}}
{{- $name := $probe.metadata.name -}}
{{- $global := list (dict "values" $root.Values.workflowParameters "strict" false) -}}
{{- if eq $probe.kind "WorkflowTemplate" -}}
{{- $doc := $probe -}}
{{- $object := printf "%s %s (%s)" $doc.kind $name $path -}}
{{- $overrides := index $root.Values.workflowTemplates $name | default dict -}}
{{- include "cogniverse.patchObjectMetadata" (dict "root" $root "doc" $doc) -}}
{{- include "cogniverse.patchWorkflowSpec" (dict "root" $root "spec" $doc.spec "object" $object "layers" (append $global (dict "values" $overrides.parameters "strict" true))) -}}
{{- $items = append $items (dict "path" $path "doc" $doc "tenant" "") -}}
{{- else -}}
{{- $cron := index $root.Values.cronWorkflows $name | default dict -}}
{{- if not $cron -}}
{{- fail (printf "CronWorkflow %s (%s) has no entry in values.cronWorkflows: add its schedules and suspend flag" $name $path) -}}
{{- end -}}
{{- $tenants := $root.Values.tenants | default (list dict) -}}
{{- range $tenant := $tenants -}}
{{- $own := dict -}}
{{- if $tenant.id -}}{{- $own = index ($tenant.cronWorkflows | default dict) $name | default dict -}}{{- end -}}
{{- if or (not (hasKey $own "enabled")) $own.enabled -}}
{{- $doc := $root.Files.Get $path | fromYaml -}}
{{- $object := printf "%s %s (%s)" $doc.kind $name $path -}}
{{- $layers := append $global (dict "values" $cron.parameters "strict" true) -}}
{{- if $tenant.id -}}
{{- $cronName := include "cogniverse.cronName" (dict "cron" $name "tenant" $tenant.id) -}}
{{- if hasKey $names $cronName -}}
{{- fail (printf "tenant %s: CronWorkflow name %s is taken" $tenant.id $cronName) -}}
{{- end -}}
{{- $_ := set $names $cronName true -}}
{{- $object = printf "%s %s of tenant %s (%s)" $doc.kind $cronName $tenant.id $path -}}
{{- $_ := set $doc.metadata "name" $cronName -}}
{{- $_ := set $doc.metadata "labels" (merge ($doc.metadata.labels | default dict) (dict "tenant-id" $tenant.id "cogniverse.io/cron-workflow" $name)) -}}
{{- $_ := set $doc.spec "workflowMetadata" (dict "labels" (dict "tenant-id" $tenant.id)) -}}
{{- $layers = concat $layers (list (dict "values" $tenant.workflowParameters "strict" false) (dict "values" $own.parameters "strict" true) (dict "values" (dict "tenant-id" $tenant.id) "strict" true)) -}}
{{- end -}}
{{- include "cogniverse.patchObjectMetadata" (dict "root" $root "doc" $doc) -}}
{{- $_ := set $doc.spec "schedules" ($own.schedules | default $cron.schedules) -}}
{{- $_ := set $doc.spec "suspend" (ternary $own.suspend $cron.suspend (hasKey $own "suspend")) -}}
{{- $_ := set $doc.spec "timezone" ($own.timezone | default $cron.timezone) -}}
{{- include "cogniverse.patchWorkflowSpec" (dict "root" $root "spec" $doc.spec.workflowSpec "object" $object "layers" $layers "tenantPods" $tenant.workflowPods) -}}
{{- $items = append $items (dict "path" $path "doc" $doc "tenant" ($tenant.id | default "")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "items" $items) -}}
{{- end -}}

{{/* The chart's labels over the object's own; no namespace (the release's). */}}
{{- define "cogniverse.patchObjectMetadata" -}}
{{- $metadata := .doc.metadata -}}
{{- $_ := unset $metadata "namespace" -}}
{{- $_ := set $metadata "labels" (merge (include "cogniverse.labels" .root | fromYaml) ($metadata.labels | default dict)) -}}
{{- end -}}
