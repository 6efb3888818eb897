"""predict's contract: which program answers which queries, and what it answered."""

from __future__ import annotations

from pydantic import BaseModel


class PredictInputs(BaseModel):
    tenant: str
    target: str
    input_path: str
    output_path: str
    version: str = "production"  # production | unoptimized | a history sequence number


class PredictResult(BaseModel):
    target: str
    program: str
    answered: int
    failed: int
    output_path: str
