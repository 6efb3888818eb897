"""The run layer: what the stages share, and the only way they read each other.

- `context`: a stage's context (config, store, tenant, run), its output folder and files.
- `commit`: the commit-or-return-committed preamble every committing stage starts with.
- `harvest`, `annotate`, `plan`, `synthesize`, `train`, `evaluate`, `gate`, `report`,
  `record`, `maintenance`, `predict`: each stage's contract — its typed inputs and result and
  the typed reader of its committed result.
- `readers`: what a stage reads beyond one result (experiences, synthetic examples, every
  committed result, a trained artifact's files).

Stages import this layer, the domain modules and storage; never another stage.
"""

from pipeline.run.context import StageContext, StageOutput, read_jsonl, read_parquet

__all__ = ["StageContext", "StageOutput", "read_jsonl", "read_parquet"]
