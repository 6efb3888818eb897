"""Runs from Python: submit, get, list, watch, outputs and logs of Argo workflows.

Two backends speak the same `Backend` protocol (pipeline.runs.backend): `KubernetesBackend`
talks to a cluster through the `kubernetes` client (CustomObjectsApi for Argo's Workflow,
WorkflowTemplate and CronWorkflow objects, CoreV1Api for pod logs); `LocalBackend` runs the
rendered YAML through the local Argo executor (pipeline.argo) and reads the `argo get -o json`
-shaped status documents it writes. Everything above the backends — building the Workflow
object as `argo submit --from` does, reading phases, nodes and outputs, the watch loop, the
text views — works on Argo's JSON and is shared (pipeline.runs.manifest, .model, .watching,
.display). The `kubernetes` package is imported only by the Kubernetes backend.
"""
