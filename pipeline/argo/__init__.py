"""Argo Workflows support: offline validation (`lint`) and a local executor (`run`) for the
rendered Workflow, WorkflowTemplate and CronWorkflow YAML in `workflows/`."""
