"""One DSPy program for every "choose a label" module: a Signature with one `Literal` output.

Besides the Signature's instructions and demos (what DSPy's optimizers tune), the program can
carry what training learned from labelled data, all saved in its JSON state (`learned`):

- **views**: the prompts it asks the LM, one call each — `zero_shot` (the Signature with the
  predictor's own demos) and `retrieved` (the k most similar labelled examples of `pool` as
  demos, TF-IDF cosine, most similar last: DSPy's KNNFewShot idea with a local vectorizer);
- **head**: a multinomial logistic regression over the views' label log-probabilities (read
  from the LM's token log-probabilities), fitted on a dev split: it undoes a small model's
  preference for some labels, combines the views, and its probability is the confidence;
- **fast tier**: a TF-IDF + logistic-regression classifier with a Platt calibration map; it
  answers when its calibrated confidence reaches `threshold`, the LM answers the rest.

With none of them (the unoptimized program) it is a zero-shot Predict whose confidence is the
model's own label probability, when the LM returns token log-probabilities.
"""

from __future__ import annotations

import math
from typing import Any, get_args

import dspy

from pipeline.labelprobs import label_distribution

STATE_KEY = "learned"  # our part of the program's JSON state, beside DSPy's predictor state
TOP_LOGPROBS = 20
FLOOR = 1e-4  # probability of a label the model did not rank in its top alternatives


def label_set(signature: type[dspy.Signature], field: str) -> tuple[str, ...]:
    labels = get_args(signature.output_fields[field].annotation)
    if not labels or not all(isinstance(label, str) for label in labels):
        raise TypeError(f"{signature.__name__}.{field} must be a Literal of strings")
    return tuple(labels)


class Platt:
    """P(correct) = sigmoid(a·logit(p) + b), clamped to [0.01, 0.99]."""

    def __init__(self, a: float, b: float) -> None:
        self.a, self.b = a, b

    def __call__(self, p: float) -> float:
        p = min(1 - 1e-6, max(1e-6, p))
        z = self.a * math.log(p / (1 - p)) + self.b
        return min(0.99, max(0.01, 1 / (1 + math.exp(-z))))

    def state(self) -> dict[str, float]:
        return {"a": round(self.a, 6), "b": round(self.b, 6)}


class ChoiceProgram(dspy.Module):
    """Predict `label_field` of `signature` from its inputs; see the module docstring."""

    def __init__(self, signature: type[dspy.Signature], label_field: str, text_field: str = "query") -> None:
        super().__init__()
        self.predict = dspy.Predict(signature)
        self.label_field = label_field
        self.text_field = text_field
        self.labels = label_set(signature, label_field)
        self.learned: dict[str, Any] = {}
        self._runtime: dict[str, Any] = {}

    # ------------------------------------------------------------------ state
    def dump_state(self, json_mode: bool = True) -> dict[str, Any]:
        return {**super().dump_state(json_mode=json_mode), STATE_KEY: self.learned}

    def load_state(self, state: dict[str, Any], **kwargs: Any) -> "ChoiceProgram":
        state = dict(state)
        learned = state.pop(STATE_KEY, {}) or {}
        super().load_state(state, **kwargs)
        self.set_learned(learned)
        return self

    def set_learned(self, learned: dict[str, Any]) -> None:
        unknown = set((learned.get("head") or {}).get("labels") or ()) - set(self.labels)
        if unknown:
            raise ValueError(f"program state names labels outside the set: {sorted(unknown)}")
        self.learned = dict(learned)
        self._runtime = {}

    def _neighbours(self) -> Any:
        if "neighbours" not in self._runtime:
            from pipeline.textclf import NearestNeighbours, TfidfFeatures

            pool = self.learned.get("pool") or []
            features = TfidfFeatures.from_state(self.learned["pool_features"]) if pool else None
            self._runtime["neighbours"] = NearestNeighbours(features, [row["text"] for row in pool]) if pool else None
        return self._runtime["neighbours"]

    def _classifier(self) -> Any:
        if "classifier" not in self._runtime:
            from pipeline.textclf import TextClassifier

            tier = self.learned.get("fast_tier")
            self._runtime["classifier"] = TextClassifier.from_state(tier["classifier"]) if tier else None
        return self._runtime["classifier"]


    # ------------------------------------------------------------------ parts, usable on their own
    def demos_for(self, text: str, exclude_self: bool = False) -> list[dspy.Example]:
        """The retrieved demos for a query, most similar last (closest to the question)."""
        k = int(self.learned.get("k") or 0)
        neighbours = self._neighbours() if k else None
        if neighbours is None:
            return []
        pool = self.learned["pool"]
        picked = neighbours.nearest(text, k, exclude=text if exclude_self else None)
        return [dspy.Example(**pool[i]["inputs"], **{self.label_field: pool[i]["label"]}).with_inputs(*pool[i]["inputs"])
                for i, _ in reversed(picked)]

    def fast_answer(self, text: str) -> tuple[str, float, float] | None:
        """(label, raw probability, calibrated confidence) from the fast tier, or None without one."""
        classifier = self._classifier()
        if classifier is None:
            return None
        label, probability = classifier.predict([text])[0]
        platt = (self.learned.get("fast_tier") or {}).get("platt")
        return label, probability, Platt(platt["a"], platt["b"])(probability) if platt else probability

    def view_distribution(self, inputs: dict[str, Any], view: str, *, exclude_self: bool = False) -> tuple[str, dict[str, float] | None, int]:
        """One LM call: (emitted label, label distribution or None, demos shown). `zero_shot`
        shows the predictor's own demos (none unless an optimizer set some); `retrieved` shows
        the k most similar labelled examples."""
        kwargs: dict[str, Any] = {**inputs, "config": {"logprobs": True, "top_logprobs": TOP_LOGPROBS}}
        demos: list[dspy.Example] = []
        if view == "retrieved":
            demos = self.demos_for(str(inputs.get(self.text_field, "")), exclude_self=exclude_self)
            kwargs["demos"] = demos
        elif view != "zero_shot":
            raise ValueError(f"unknown view {view!r}")
        pred = self.predict(**kwargs)
        dist = label_distribution(getattr(pred, "logprobs", None), self.label_field, self.labels)
        return getattr(pred, self.label_field), dist, len(demos)

    def head_probabilities(self, distributions: list[dict[str, float]]) -> dict[str, float]:
        """The learned head: a multinomial logistic regression over the views' log-probabilities."""
        head = self.learned["head"]  # pipeline.adaptive fits it: bias offsets or a logistic regression
        features = [math.log(max(FLOOR, d.get(label, 0.0))) for d in distributions for label in self.labels]
        temperature = float(head.get("temperature", 1.0))  # fitted on dev so the probability is honest
        scores = [(b + sum(w * x for w, x in zip(row, features))) / temperature for row, b in zip(head["weights"], head["intercept"])]
        top = max(scores)
        exp = [math.exp(v - top) for v in scores]
        total = sum(exp)
        return {label: e / total for label, e in zip(head["labels"], exp)}

    def lm_answer(self, inputs: dict[str, Any], *, exclude_self: bool = False) -> dspy.Prediction:
        """The LM tier: one call per view; the head (if trained) combines their label
        distributions; without log-probabilities the last view's emitted label stands."""
        views = self.learned.get("views") or ["zero_shot"]
        emitted, dists, shown = None, [], 0
        for view in views:
            emitted, dist, demos = self.view_distribution(inputs, view, exclude_self=exclude_self)
            dists.append(dist)
            shown = max(shown, demos)
        if all(d is not None for d in dists):
            probs = self.head_probabilities(dists) if self.learned.get("head") else dists[-1]
            label = max(probs, key=probs.get)
            return dspy.Prediction(label=label, emitted=emitted, probability=probs[label], confidence=probs[label], demos=shown)
        # No log-probabilities (a provider without them): the measured accuracy is the confidence.
        return dspy.Prediction(label=emitted, emitted=emitted, probability=None,
                               confidence=float(self.learned.get("fallback_confidence", 0.5)), demos=shown)

    # ------------------------------------------------------------------ the program
    def forward(self, **inputs: Any) -> dspy.Prediction:
        text = str(inputs.get(self.text_field, ""))
        fast = self.fast_answer(text)
        tier = self.learned.get("fast_tier") or {}
        if fast is not None and fast[2] >= float(tier.get("threshold", 2.0)):
            label, raw, confidence = fast
            return dspy.Prediction(**{self.label_field: label}, confidence=round(confidence, 4), tier="classifier",
                                   classifier_label=label,
                                   reasoning=f"text classifier, p={raw:.2f} (answers at calibrated confidence ≥ {tier['threshold']:.2f})")
        answer = self.lm_answer(inputs)
        shown = f"; {answer.demos} similar labelled examples shown" if answer.demos else ""
        why = "language model" + (f", p={answer.probability:.2f}" if answer.probability is not None else "") + shown
        if fast is not None:
            why += f"; text classifier was unsure ({fast[0]}, p={fast[1]:.2f})"
        return dspy.Prediction(**{self.label_field: answer.label}, confidence=round(float(answer.confidence), 4),
                               tier="lm", reasoning=why, classifier_label=fast[0] if fast is not None else None)
