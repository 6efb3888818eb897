"""One DSPy program for a Signature with several outputs, answered in one LM call.

`finish(outputs, inputs)` turns the LM's raw outputs into the answer — clamped numbers,
normalised weights, trimmed text — so that every caller (train, evaluate, predict, annotate)
sees the same values. A single-label choice whose confidence comes from the label
probabilities is a ChoiceProgram (program.py) instead.
"""

from __future__ import annotations

from typing import Any, Callable

import dspy

Finish = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class StructuredProgram(dspy.Module):
    def __init__(self, signature: type[dspy.Signature], finish: Finish | None = None) -> None:
        super().__init__()
        self.predict = dspy.Predict(signature)
        self.finish = finish

    def forward(self, **inputs: Any) -> dspy.Prediction:
        pred = self.predict(**inputs)
        outputs = {name: getattr(pred, name, None) for name in self.predict.signature.output_fields}
        return dspy.Prediction(**(self.finish(outputs, inputs) if self.finish is not None else outputs))
