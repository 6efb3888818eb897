"""Argo Workflows definitions (Hera), one module per object; `python -m workflows.render`
writes each object's YAML next to its module."""
