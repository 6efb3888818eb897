{{/*
Patching the Hera-rendered workflow objects (files/*.yaml) with values.

The files are the one source of truth for the workflows' structure. They hold Argo's own
`{{...}}` expressions, so they are never run through Helm's template engine: each file is read
with .Files.Get, parsed with fromYaml, changed in place with `set`, and written with toYaml.
Only values-owned fields change: image, pull policy, resources, security contexts, scheduling,
service account, artifact repository, Secret names, parameter defaults, cron schedules.
*/}}

{{/* The Secret names the workflow definitions use (workflows/common.py). */}}
{{- define "cogniverse.workflowS3Secret" -}}cogniverse-optimization-s3{{- end -}}
{{- define "cogniverse.workflowLLMSecret" -}}cogniverse-optimization-llm{{- end -}}
{{- define "cogniverse.cli" -}}cogniverse-optimize{{- end -}}

{{/*
Patch one workflow spec in place (a WorkflowTemplate's spec or a CronWorkflow's workflowSpec).
Argument: dict "root" $ "spec" <spec> "object" <kind/name, for messages> "parameters" <dict>.
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
{{- if hasKey $spec "templates" -}}
{{- /* A full spec (not only a workflowTemplateRef): pod-level settings live here. */ -}}
{{- $_ := set $spec "securityContext" (deepCopy $pods.podSecurityContext) -}}
{{- with $root.Values.imagePullSecrets -}}
{{- $secrets := list -}}
{{- range . -}}{{- $secrets = append $secrets (dict "name" .) -}}{{- end -}}
{{- $_ := set $spec "imagePullSecrets" $secrets -}}
{{- end -}}
{{- with $pods.nodeSelector -}}{{- $_ := set $spec "nodeSelector" (deepCopy .) -}}{{- end -}}
{{- with $pods.tolerations -}}{{- $_ := set $spec "tolerations" (deepCopy .) -}}{{- end -}}
{{- with $pods.priorityClassName -}}{{- $_ := set $spec "podPriorityClassName" . -}}{{- end -}}
{{- range $template := $spec.templates -}}
{{- with $template.container -}}
{{- if eq (first (.command | default (list ""))) (include "cogniverse.cli" $root) -}}
{{- include "cogniverse.patchStepContainer" (dict "root" $root "container" . "object" (printf "%s template %s" $.object $template.name)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "cogniverse.patchParameters" (dict "root" $root "arguments" $spec.arguments "object" .object "overrides" .parameters) -}}
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
{{- range $entry := ($c.env | default list) -}}
{{- $ref := dig "valueFrom" "secretKeyRef" dict $entry -}}
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
{{- if $env -}}{{- $_ := set $c "env" $env -}}{{- end -}}
{{- range $entry := ($c.envFrom | default list) -}}
{{- $ref := $entry.secretRef | default dict -}}
{{- if eq (get $ref "name") (include "cogniverse.workflowLLMSecret" $root) -}}
{{- $_ := set $ref "name" $values.llmSecret.existingSecret -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Parameter defaults: values.workflowParameters (global), then the object's own `parameters`.
`improvement-threshold` defaults to config.gate.improvement_threshold, the pipeline's own.
A name the object does not declare fails the render (a typo must not pass silently).
Argument: dict "root" $ "arguments" <arguments or nil> "object" <name> "overrides" <dict>.
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
{{- range $name, $value := $root.Values.workflowParameters -}}
{{- if hasKey $declared $name -}}{{- $_ := set $values $name $value -}}{{- end -}}
{{- end -}}
{{- range $name, $value := (.overrides | default dict) -}}
{{- if not (hasKey $declared $name) -}}
{{- fail (printf "%s declares no parameter %q (it has: %s)" $.object $name (keys $declared | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $_ := set $values $name $value -}}
{{- end -}}
{{- range $name, $value := $values -}}
{{- $_ := set (get $declared $name) "value" (toString $value) -}}
{{- end -}}
{{- end -}}
