"""What the golden (DSPy agent) modules share: the golden dataset's schema, derived from each
module's Signature, its validation, the held-out split, the metrics, the judge and the
integration artifact.

**Golden dataset** (JSON Lines; `tenants/{t}/golden/{module}.jsonl` in the store, or a file):
one object per line with the module's input fields and, when labelled, its output fields. A row
with none of the output fields is an unlabelled query (the teacher labels it, if `llm.teacher`
is set; else it is left out). A labelled row must carry every field the module's metric reads
(`metric_fields`); every field present is type-checked against the Signature: `bool` is true or
false, a `Literal` one of its values, `str` a non-empty string, `float` a number in [0, 1].
Unknown keys are errors too (a misspelt field would otherwise read as "unlabelled"), except
`id` and `notes`. Any violation is a ConfigError (exit 2) naming the line and the field,
raised before any LM call.

**Metrics.** Structured modules: exact field agreement, the share of `exact_fields` the
prediction gets right (bootstrapping keeps a demo only when all agree). Texts (summaries,
reports): `0.6 · judge + 0.4 · cheap checks`. The judge is a program on the teacher LM
(`judging(lm)`; the context LM without a teacher) scoring each rubric item — faithfulness,
coverage, clarity — in [0, 1], averaged. The cheap checks cost no LM call: half for the length
(1 inside the module's word bounds, falling linearly to 0 at half the minimum / twice the
maximum), half for the coverage of the source's key terms (its most frequent words of four
letters or more, stop words left out). The judge is weighted more because only it reads
meaning; the cheap checks keep a judge that likes everything from rewarding an empty or
rambling text.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import re
import textwrap
import typing
from collections import Counter
from typing import Any, Iterator, Literal

import dspy

from pipeline.errors import ConfigError
from pipeline.modules.common import clamp_confidence

EXTRA_KEYS = ("id", "notes")
JUDGE_WEIGHT = 0.6  # the rest is the cheap checks
KEY_TERMS = 8

FieldKind = Literal["bool", "choice", "str", "float01", "list"]


def field_rules(signature: type[dspy.Signature]) -> dict[str, tuple[FieldKind, tuple[str, ...]]]:
    """Each input and output field → (kind, allowed values for a choice), from the annotations."""
    rules: dict[str, tuple[FieldKind, tuple[str, ...]]] = {}
    for name, field in {**signature.input_fields, **signature.output_fields}.items():
        annotation = field.annotation
        if typing.get_origin(annotation) is Literal:
            rules[name] = ("choice", tuple(str(v) for v in typing.get_args(annotation)))
        elif annotation is bool:
            rules[name] = ("bool", ())
        elif annotation is float:
            rules[name] = ("float01", ())
        elif typing.get_origin(annotation) is list:
            rules[name] = ("list", ())
        else:
            rules[name] = ("str", ())
    return rules


def _check(value: Any, kind: FieldKind, choices: tuple[str, ...]) -> str | None:
    """Why `value` does not fit, or None."""
    if kind == "bool":
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
    if kind == "choice":
        return None if value in choices else f"must be one of {', '.join(choices)}, not {value!r}"
    if kind == "float01":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= float(value) <= 1.0
        return None if ok else f"must be a number in [0, 1], not {value!r}"
    if kind == "list":
        return None if isinstance(value, list) and all(isinstance(v, str) for v in value) else f"must be a list of strings, not {value!r}"
    return None if isinstance(value, str) and value.strip() else f"must be a non-empty string, not {value!r}"


def validate_rows(spec: Any, rows: list[tuple[int, Any]], where: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(labelled rows, unlabelled rows) of a golden dataset; ConfigError naming the line and the
    field at the first row that does not fit the module's Signature."""
    signature = spec.program_factory().predict.signature
    rules = field_rules(signature)
    inputs, outputs = tuple(signature.input_fields), tuple(signature.output_fields)
    labelled, unlabelled = [], []
    for number, raw in rows:
        at = f"{where}, line {number}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{at}: expected a JSON object with {', '.join(inputs)}, got {type(raw).__name__}")
        for key in raw:
            if key not in rules and key not in EXTRA_KEYS:
                raise ConfigError(f"{at}: unknown field {key!r} for module {spec.name} (fields: {', '.join((*inputs, *outputs))})")
        for name in inputs:
            if name not in raw:
                raise ConfigError(f"{at}: field {name!r} is missing (an input of module {spec.name})")
        is_labelled = any(name in raw for name in outputs)
        if is_labelled:
            for name in spec.metric_fields:
                if name not in raw:
                    raise ConfigError(f"{at}: field {name!r} is missing (the {spec.name} metric reads it)")
        for name, value in raw.items():
            if name in rules and (problem := _check(value, *rules[name])) is not None:
                raise ConfigError(f"{at}: field {name!r} {problem}")
        row = {name: raw[name] for name in (*inputs, *outputs) if name in raw}
        row["line"] = number
        if is_labelled:
            labelled.append({**row, "label_source": "golden"})
        else:
            unlabelled.append(row)
    return labelled, unlabelled


def split_heldout(rows: list[dict[str, Any]], fraction: float, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, held-out): a seeded share of the labelled golden rows; a repeated input never
    lands on both sides. Only golden rows are split: teacher labels are for training only."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get("query", "")).strip().lower(), []).append(row)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_heldout = round(len(keys) * fraction) if len(keys) > 1 else 0
    if len(keys) > 1:
        n_heldout = min(max(n_heldout, 1), len(keys) - 1)
    held = set(keys[:n_heldout])
    train = [r for k in keys if k not in held for r in groups[k]]
    heldout = [r for k in keys if k in held for r in groups[k]]
    return train, heldout


def example_builder(inputs: tuple[str, ...], outputs: tuple[str, ...]):
    def build_example(record: dict[str, Any]) -> dspy.Example:
        values = {name: record[name] for name in (*inputs, *outputs) if name in record}
        return dspy.Example(**values).with_inputs(*inputs)

    return build_example


# --------------------------------------------------------------------------- metrics
def field_agreement(fields: tuple[str, ...]):
    """The share of `fields` the prediction gets exactly right; with a trace (bootstrapping)
    only a prediction that gets them all right counts."""

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        right = sum(getattr(pred, f, None) == example.get(f) for f in fields)
        score = right / len(fields)
        return float(score == 1.0) if trace is not None else round(score, 4)

    return metric


def agreement_by_field(fields: tuple[str, ...], golds: list[dict[str, Any]], predictions: list[dict[str, Any] | None]) -> dict[str, float]:
    n = len(golds)
    return {f: round(sum((p or {}).get(f) == g.get(f) for g, p in zip(golds, predictions)) / n, 4) for f in fields} if n else {}


_STOP = frozenset("""about above after again against also among because been before being below between both
could does doing down during each from further have having here into itself just more most other over same should
some such than that their them then there these they this those through under until very what when where which while
with would your yours will shall only onto upon across around were""".split())


def key_terms(source: str, k: int = KEY_TERMS) -> list[str]:
    """The source's most frequent words of four letters or more, stop words left out."""
    words = [w for w in re.findall(r"[a-z][a-z0-9-]{3,}", source.lower()) if w not in _STOP]
    return [w for w, _ in Counter(words).most_common(k)]


def length_score(text: str, bounds: tuple[int, int]) -> float:
    low, high = bounds
    n = len(text.split())
    if low <= n <= high:
        return 1.0
    if n < low:
        return max(0.0, (n - low / 2) / (low / 2))
    return max(0.0, 1.0 - (n - high) / high)


def cheap_checks(text: str, source: str, bounds: tuple[int, int]) -> dict[str, float]:
    terms = key_terms(source)
    lowered = text.lower()
    coverage = sum(t in lowered for t in terms) / len(terms) if terms else 1.0
    return {"length": round(length_score(text, bounds), 4), "coverage": round(coverage, 4)}


RUBRIC = ("faithfulness", "coverage", "clarity")


class JudgeText(dspy.Signature):
    """Grade a generated text against its source with the rubric. Give each rubric item a score
    from 0 (fails it) to 1 (fully meets it)."""

    task: str = dspy.InputField(desc="what the text was asked to be")
    rubric: str = dspy.InputField(desc="what each score means")
    source: str = dspy.InputField(desc="the material the text is based on")
    reference: str = dspy.InputField(desc="a reference text written for the same source, if any")
    text: str = dspy.InputField(desc="the text to grade")
    faithfulness: float = dspy.OutputField(desc="0-1: states only what the source supports")
    coverage: float = dspy.OutputField(desc="0-1: contains the source's main points the task asks for")
    clarity: float = dspy.OutputField(desc="0-1: well organised and easy to read for the task")


_JUDGE: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar("cogniverse_judge", default=None)


@contextlib.contextmanager
def judging(lm: Any, adapter: Any = None) -> Iterator[None]:
    """Judge the texts scored inside on `lm` (the teacher) with `adapter`; None = the context LM."""
    token = _JUDGE.set((lm, adapter) if lm is not None else None)
    try:
        yield
    finally:
        _JUDGE.reset(token)


def judge(task: str, rubric: str, source: str, reference: str, text: str) -> dict[str, float]:
    """The rubric's scores; a judge reply that does not parse scores 0 (an LM that is gone raises)."""
    from pipeline.errors import is_lm_unreachable

    chosen = _JUDGE.get()
    settings = {} if chosen is None else {"lm": chosen[0], **({"adapter": chosen[1]} if chosen[1] is not None else {})}
    try:
        with dspy.context(**settings):
            pred = dspy.Predict(JudgeText)(task=task, rubric=rubric, source=source[:4000], reference=reference[:2000], text=text[:4000])
    except Exception as exc:
        if is_lm_unreachable(exc):
            raise
        return {item: 0.0 for item in RUBRIC}
    return {item: round(clamp_confidence(getattr(pred, item, 0.0)), 4) for item in RUBRIC}


def text_metric(output_field: str, source_field: str, task: str, rubric: str, bounds: tuple[int, int], pass_score: float):
    """`JUDGE_WEIGHT · mean(judge rubric scores) + (1 − JUDGE_WEIGHT) · mean(length, coverage)`;
    with a trace (bootstrapping) a demo counts when that reaches `pass_score`."""

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        text = str(getattr(pred, output_field, "") or "").strip()
        if not text:
            return 0.0
        source = str(example.get(source_field) or "")
        cheap = cheap_checks(text, source, bounds)
        judged = judge(task, rubric, source, str(example.get(output_field) or ""), text)
        score = JUDGE_WEIGHT * sum(judged.values()) / len(judged) + (1 - JUDGE_WEIGHT) * sum(cheap.values()) / len(cheap)
        return float(score >= pass_score) if trace is not None else round(score, 4)

    return metric


# --------------------------------------------------------------------------- integration artifact
def integration_artifact(program: Any, lm_spec: Any, module: str) -> dict[str, Any]:
    """What a non-DSPy agent loads: the system prompt (the Signature's instruction and its
    fields' descriptions), the compiled demos as few-shot examples, and the LM settings."""
    predictor = program.predict
    signature = predictor.signature
    rules = field_rules(signature)

    def described(fields: dict[str, Any]) -> list[str]:
        lines = []
        for name, field in fields.items():
            desc = (field.json_schema_extra or {}).get("desc") or ""
            kind, choices = rules[name]
            shape = f"one of {', '.join(choices)}" if kind == "choice" else {"bool": "true or false", "float01": "a number in [0, 1]",
                                                                                "list": "a list of strings", "str": "text"}[kind]
            lines.append(f"- {name} ({shape}){': ' + desc if desc and not desc.startswith('${') else ''}")
        return lines

    prompt = "\n".join([
        textwrap.dedent(signature.instructions).strip(), "", "Inputs:", *described(signature.input_fields), "",
        "Reply with a JSON object with these fields:", *described(signature.output_fields),
    ])
    demos = []
    for demo in predictor.demos:
        values = demo.toDict() if hasattr(demo, "toDict") else dict(demo)
        demos.append({
            "inputs": {name: values[name] for name in signature.input_fields if name in values},
            "outputs": {name: values[name] for name in signature.output_fields if name in values},
        })
    return {
        "module": module,
        "system_prompt": prompt,
        "input_fields": list(signature.input_fields),
        "output_fields": {name: {"type": rules[name][0], **({"choices": list(rules[name][1])} if rules[name][1] else {})}
                          for name in signature.output_fields},
        "few_shot_examples": demos,
        "model_config": {"model": lm_spec.model, "temperature": lm_spec.temperature, "max_tokens": lm_spec.max_tokens},
    }
