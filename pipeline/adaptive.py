"""The default training strategy for label-choice modules: what measurably lifts 0.1–0.5B models.

Measured on this project's machines (README, "Optimization quality"): a small model's argmax
label is biased (it sends most queries to one or two agents), yet its label log-probabilities
carry real signal; similar labelled examples as demos help; and a plain TF-IDF classifier beats
every zero-shot program. So training, within an LM-call budget, cheap rungs first:

1. **fast tier** — fit the text classifier; its calibration (Platt) from cross-fitted
   probabilities over the whole training set. No LM call.
2. **dev split** — a label-stratified sample of the training rows (never the held-out set).
   Every dev row is answered with the pool *minus itself*, so its score is out-of-sample.
3. **rungs** (each one LM call per dev row, stop when the dev score stops rising):
   `zero_shot` → `retrieved` (k nearest labelled demos) → `bootstrap` (BootstrapFewShot demos
   on the rows outside dev) → `simba` (only when listed and the budget pays a step). After each, the candidates it makes possible — a view's argmax,
   a view + head, the zero-shot + retrieved ensemble + head — are scored on the dev rows (heads
   by cross-validation); the best (ties: fewer LM calls per query, then the simpler head) is kept.
4. **head** — over the chosen views' label log-probabilities: `bias` (one offset per label: the
   model's favourite labels undone) or `lr` (a full logistic regression), refitted on all dev rows.
5. **escalation threshold** — on the dev rows, the classifier answers where its calibrated
   confidence ≥ t and the LM tier answers the rest; t maximises dev accuracy, and the LM tier is
   used only if it adds at least `min_gain` right answers over the classifier alone.

Everything is deterministic for a seed; the report lists every rung's calls and scores.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from pipeline.lm import LMMeter
from pipeline.modules.program import FLOOR
from pipeline.textclf import TextClassifier, TfidfFeatures, normalise

log = logging.getLogger(__name__)

RUNGS = ("zero_shot", "retrieved", "bootstrap", "simba")
DEFAULT_RUNGS = ("zero_shot", "retrieved", "bootstrap")  # SIMBA costs ~380 calls a step: only with the budget for it
_PREDICTOR_RUNGS = ("bootstrap", "simba")
BOOTSTRAP_TRIES_PER_DEMO = 4  # training examples tried per wanted demo (a small model gets ~1 in 4 right)  # rungs that tune the predictor itself (its demos, instructions)



@dataclass
class Settings:
    lm_call_budget: int = 240
    dev_size: int = 80
    retrieval_k: int = 8
    fast_tier: bool = True
    head_c: float = 1.0
    cv_folds: int = 5
    min_gain: int = 2
    rungs: tuple[str, ...] = DEFAULT_RUNGS
    max_bootstrapped_demos: int = 4
    max_labeled_demos: int = 8
    seed: int = 13


@dataclass
class DevAnswers:
    """One view's answers on the dev rows: emitted labels and label distributions (or None)."""

    emitted: list[str | None]
    dists: list[dict[str, float] | None]


@dataclass
class Outcome:
    program: Any
    report: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- data


def dedupe(rows: list[dict[str, Any]], text_of: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    """One row per normalised text, with its majority label (ties: first seen): a repeated query
    must not be its own neighbour nor count twice on the dev split."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[normalise(text_of(row))].append(row)
    out = []
    for members in groups.values():
        label = Counter(r["label"] for r in members).most_common(1)[0][0]
        out.append(next(r for r in members if r["label"] == label))
    return out


def stratified_sample(labels: list[str], size: int, seed: int) -> list[int]:
    """Indices of a label-stratified sample of `size` (round-robin over labels in a seeded order)."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    rng = random.Random(seed)
    for members in by_label.values():
        rng.shuffle(members)
    order = sorted(by_label)
    picked: list[int] = []
    while len(picked) < min(size, len(labels)):
        for label in order:
            if by_label[label] and len(picked) < size:
                picked.append(by_label[label].pop())
    return sorted(picked)


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.RandomState(seed).permutation(n)
    return [order[i::k] for i in range(k)]


# ---------------------------------------------------------------------------- fast tier


def fit_fast_tier(texts: list[str], labels: list[str], settings: Settings) -> tuple[dict[str, Any] | None, list[tuple[str, float]] | None]:
    """(fast-tier state with Platt calibration, cross-fitted (label, raw probability) per row)."""
    if not settings.fast_tier or len(set(labels)) < 2 or len(texts) < 10:
        return None, None
    k = min(settings.cv_folds, len(texts))
    crossfit: list[tuple[str, float] | None] = [None] * len(texts)
    for fold in _folds(len(texts), k, settings.seed):
        rest = [i for i in range(len(texts)) if i not in set(fold)]
        if len({labels[i] for i in rest}) < 2:
            continue
        model = TextClassifier.fit([texts[i] for i in rest], [labels[i] for i in rest], seed=settings.seed)
        for i, answer in zip(fold, model.predict([texts[i] for i in fold])):
            crossfit[int(i)] = answer
    if any(answer is None for answer in crossfit):
        return None, None
    answers = [a for a in crossfit if a is not None]
    platt = fit_platt([p for _, p in answers], [label == gold for (label, _), gold in zip(answers, labels)])
    final = TextClassifier.fit(texts, labels, seed=settings.seed)
    return {"classifier": final.state(), "platt": platt, "threshold": 0.0}, answers


def fit_platt(probabilities: list[float], correct: list[bool]) -> dict[str, float]:
    """P(correct) = sigmoid(a·logit(p) + b), fitted by regularised maximum likelihood."""
    from sklearn.linear_model import LogisticRegression

    if len(set(correct)) < 2:  # all right or all wrong: a constant map at the observed rate
        rate = min(0.99, max(0.01, sum(correct) / max(1, len(correct))))
        return {"a": 0.0, "b": round(math.log(rate / (1 - rate)), 6)}
    x = np.array([[math.log(min(1 - 1e-6, max(1e-6, p)) / (1 - min(1 - 1e-6, max(1e-6, p))))] for p in probabilities])
    model = LogisticRegression(C=1.0).fit(x, np.array(correct, dtype=int))
    return {"a": round(float(model.coef_[0][0]), 6), "b": round(float(model.intercept_[0]), 6)}


def platt_apply(params: dict[str, float], p: float) -> float:
    from pipeline.modules.program import Platt

    return Platt(params["a"], params["b"])(p)


# ---------------------------------------------------------------------------- heads


def _features(views: list[DevAnswers], rows: list[int], labels: tuple[str, ...]) -> np.ndarray:
    return np.array([[math.log(max(FLOOR, (v.dists[i] or {}).get(label, 0.0))) for v in views for label in labels]
                     for i in rows])


def _fit(kind: str, x: np.ndarray, y: list[str], labels: tuple[str, ...], n_views: int, c: float) -> dict[str, Any]:
    """A head as (labels, weights, intercept) over the views' label log-probabilities.

    `bias`: the views' log-probabilities summed, plus one learned offset per label (7 numbers:
    it undoes a model's favourite labels and little else — robust on a few dozen dev rows).
    `lr`: a full multinomial logistic regression over every view's log-probabilities."""
    from sklearn.linear_model import LogisticRegression

    if kind == "lr":
        model = LogisticRegression(C=c, max_iter=5000).fit(x, y)
        return {"kind": "lr", "labels": [str(k) for k in model.classes_], "weights": model.coef_.tolist(),
                "intercept": model.intercept_.tolist()}
    n_labels = len(labels)
    weights = np.zeros((n_labels, n_labels * n_views))
    for j in range(n_labels):
        for v in range(n_views):
            weights[j, v * n_labels + j] = 1.0
    scores = x @ weights.T
    target = np.array([labels.index(label) for label in y])
    offsets = np.zeros(n_labels)
    counts = np.bincount(target, minlength=n_labels)
    for _ in range(300):  # gradient ascent on the log-likelihood, L2-regularised towards 0
        z = scores + offsets
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        gradient = counts - p.sum(axis=0) - offsets / c
        offsets += 0.5 * gradient / len(y)
    return {"kind": "bias", "labels": list(labels), "weights": weights.tolist(), "intercept": offsets.tolist()}


def _scores(head: dict[str, Any], x: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """The head's scores over the full label set (a label a fold never saw scores -inf)."""
    z = x @ np.array(head["weights"]).T + np.array(head["intercept"])
    full = np.full((len(x), len(labels)), -np.inf)
    for j, label in enumerate(head["labels"]):
        full[:, labels.index(label)] = z[:, j]
    return full


def _softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = z / temperature
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, gold: list[int]) -> float:
    """The temperature that makes out-of-fold probabilities honest (lowest log-loss): a small
    model's summed log-probabilities are sharper than its accuracy."""
    if len(gold) == 0:
        return 1.0
    best, best_loss = 1.0, math.inf
    for temperature in np.exp(np.linspace(math.log(0.25), math.log(8.0), 41)):
        p = _softmax(scores, float(temperature))[np.arange(len(gold)), gold]
        loss = -float(np.mean(np.log(np.clip(p, 1e-9, 1.0))))
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return round(best, 4)


def head_cv(kind: str, views: list[DevAnswers], gold: list[str], labels: tuple[str, ...], settings: Settings) -> dict[str, Any]:
    """Cross-validated accuracy of a head over these views on the dev rows, with the
    out-of-fold predictions and probabilities (for threshold tuning) and the temperature
    that calibrates them."""
    usable = [i for i in range(len(gold)) if all(v.dists[i] is not None for v in views)]
    predicted: list[str | None] = [None] * len(gold)
    probability = [0.0] * len(gold)
    result = {"accuracy": 0.0, "predicted": predicted, "probability": probability, "temperature": 1.0}
    if len(usable) < 2 * settings.cv_folds:
        return result
    x = _features(views, usable, labels)
    y = [gold[i] for i in usable]
    scores = np.zeros((len(usable), len(labels)))
    for fold in _folds(len(usable), settings.cv_folds, settings.seed):
        rest = np.setdiff1d(np.arange(len(usable)), fold)
        if len({y[i] for i in rest}) < 2:
            continue
        head = _fit(kind, x[rest], [y[i] for i in rest], labels, len(views), settings.head_c)
        scores[fold] = _scores(head, x[fold], labels)
    scores = np.where(np.isfinite(scores), scores, -1e9)
    temperature = fit_temperature(scores, [labels.index(label) for label in y])
    probs = _softmax(scores, temperature)
    for row, p in enumerate(probs):
        predicted[usable[row]] = labels[int(p.argmax())]
        probability[usable[row]] = float(p.max())
    result["accuracy"] = sum(1 for p, g in zip(predicted, gold) if p == g) / len(gold)
    result["temperature"] = temperature
    return result


def fit_head(kind: str, views: list[DevAnswers], gold: list[str], labels: tuple[str, ...], settings: Settings,
             temperature: float = 1.0) -> dict[str, Any]:
    usable = [i for i in range(len(gold)) if all(v.dists[i] is not None for v in views)]
    head = _fit(kind, _features(views, usable, labels), [gold[i] for i in usable], labels, len(views), settings.head_c)
    return {**head, "weights": np.round(np.array(head["weights"]), 6).tolist(),
            "intercept": np.round(np.array(head["intercept"]), 6).tolist(), "temperature": temperature,
            "fitted_on": len(usable)}


def argmax_answers(view: DevAnswers) -> tuple[list[str | None], list[float]]:
    predicted, probability = [], []
    for emitted, dist in zip(view.emitted, view.dists):
        if dist:
            label = max(dist, key=dist.get)
            predicted.append(label)
            probability.append(dist[label])
        else:
            predicted.append(emitted)
            probability.append(0.5)
    return predicted, probability


# ---------------------------------------------------------------------------- escalation


def tune_threshold(fast: list[tuple[str, float]], lm: list[str | None], gold: list[str], min_gain: int,
                   max_p: float = 0.1) -> dict[str, Any]:
    """The calibrated-confidence threshold at or above which the classifier answers.

    The LM tier is used only if, on the dev rows it would answer, it is right where the
    classifier is wrong at least `min_gain` times more often than the reverse, and the paired
    one-sided McNemar test says that is unlikely to be luck (p ≤ max_p): dev rows come from the
    tenant's own traffic, and a gain that is noise there is a loss on new queries."""
    from pipeline.metrics import mcnemar_one_sided

    n = len(gold)
    classifier_right = sum(1 for (label, _), g in zip(fast, gold) if label == g)
    best_t, best_right = 0.0, classifier_right
    for t in sorted({c for _, c in fast}):
        right = sum(1 for (label, c), l, g in zip(fast, lm, gold) if (label if c >= t else l) == g)
        if right > best_right:
            best_t, best_right = t, right
    escalated = [i for i, (_, c) in enumerate(fast) if c < best_t]
    paired = mcnemar_one_sided([lm[i] == gold[i] for i in escalated], [fast[i][0] == gold[i] for i in escalated])
    reason = "the LM tier answers below the threshold"
    if best_right - classifier_right < min_gain or paired.p_value > max_p:
        reason = (f"the LM tier did not earn its cost on dev: {paired.candidate_only_correct} right where the classifier "
                  f"was wrong, {paired.baseline_only_correct} the reverse (p={paired.p_value:.2f}); the classifier answers all")
        best_t, best_right, escalated = 0.0, classifier_right, []
    return {
        "threshold": round(best_t, 6),
        "decision": reason,
        "dev_n": n,
        "dev_accuracy_classifier": round(classifier_right / n, 4) if n else None,
        "dev_accuracy_composite": round(best_right / n, 4) if n else None,
        "escalated_share": round(len(escalated) / n, 4) if n else 0.0,
        "slice_n": len(escalated),
        "slice_accuracy_lm": round(sum(lm[i] == gold[i] for i in escalated) / len(escalated), 4) if escalated else None,
        "slice_accuracy_classifier": round(sum(fast[i][0] == gold[i] for i in escalated) / len(escalated), 4) if escalated else None,
        "slice_p_value": paired.p_value,
    }


# ---------------------------------------------------------------------------- the strategy


def compile_adaptive(spec: Any, rows: list[dict[str, Any]], settings: Settings, *, meter: LMMeter | None = None,
                     progress: Callable[[str], None] | None = None) -> Outcome:
    """Train `spec`'s ChoiceProgram on labelled rows (`label` + the module's input fields)
    inside the caller's `dspy.context(lm=...)`."""
    say = progress or log.info
    meter = meter or LMMeter()
    started = time.monotonic()
    text_of = spec.text_of
    rows = dedupe(rows, text_of)
    texts, gold_all = [text_of(r) for r in rows], [r["label"] for r in rows]
    program = spec.program_factory()
    labels = program.labels
    report: dict[str, Any] = {"strategy": "adaptive", "train_rows": len(rows), "budget": settings.lm_call_budget, "rungs": []}

    fast, crossfit = fit_fast_tier(texts, gold_all, settings)
    pool = [{"text": t, "inputs": spec.build_example(r).inputs().toDict(), "label": r["label"]} for t, r in zip(texts, rows)]
    learned: dict[str, Any] = {"k": settings.retrieval_k, "pool": pool, "pool_features": TfidfFeatures.fit(texts).state()}
    program.set_learned({**learned, "views": ["zero_shot"]})

    # Sized so every cheap rung fits the budget — each answers the dev rows once, and
    # bootstrapping needs some calls of its own — but never below what cross-validation needs.
    n_views_max = max(1, sum(1 for r in settings.rungs if r in DEFAULT_RUNGS))
    reserve = BOOTSTRAP_TRIES_PER_DEMO * settings.max_bootstrapped_demos if "bootstrap" in settings.rungs else 0
    per_rung = max(0, settings.lm_call_budget - reserve) // n_views_max
    dev_n = max(0, min(settings.dev_size, len(rows), max(2 * settings.cv_folds, per_rung)))
    dev = stratified_sample(gold_all, dev_n, settings.seed)
    gold = [gold_all[i] for i in dev]
    report["dev_size"] = len(dev)
    views: dict[str, DevAnswers] = {}
    candidates: dict[str, dict[str, Any]] = {}
    best_name, best_right = None, -1
    with meter.watching():
        for rung in settings.rungs:
            before = meter.snapshot()
            remaining = settings.lm_call_budget - meter.calls
            if len(dev) < 2 * settings.cv_folds:
                report["rungs"].append({"rung": rung, "skipped": f"dev split too small ({len(dev)} rows)"})
                break
            if remaining < len(dev):
                report["rungs"].append({"rung": rung, "skipped": f"budget: needs {len(dev)} calls, {remaining} left"})
                break
            rung_started = time.monotonic()
            extra: dict[str, Any] = {}
            if rung in _PREDICTOR_RUNGS:
                tune = _bootstrap_demos if rung == "bootstrap" else _simba
                saved = (list(program.predict.demos), program.predict.signature)
                extra = tune(program, spec, rows, set(dev), settings, remaining - len(dev))
                if extra.get("reason"):
                    program.predict.demos, program.predict.signature = saved
                    report["rungs"].append({"rung": rung, "skipped": extra["reason"], **meter.since(before)})
                    continue
            view_name = "retrieved" if rung == "retrieved" else "zero_shot"
            answers = DevAnswers([], [])
            for i in dev:
                inputs = pool[i]["inputs"]
                emitted, dist, _ = program.view_distribution(inputs, view_name, exclude_self=True)
                answers.emitted.append(emitted)
                answers.dists.append(dist)
            views[rung] = answers
            new = _candidates_after(rung, views, gold, labels, settings)
            candidates.update(new)
            # ties: fewer LM calls per query, then the simpler head (none < bias < lr)
            simplicity = {None: 2, "bias": 1, "lr": 0}
            rung_best = max(new.items(), key=lambda kv: (kv[1]["right"], -kv[1]["calls_per_query"], simplicity[kv[1]["head"]]))
            entry = {"rung": rung, **meter.since(before), "seconds": round(time.monotonic() - rung_started, 2),
                     "candidates": {k: v["accuracy"] for k, v in new.items()}, **{k: v for k, v in extra.items() if k != "demos"}}
            report["rungs"].append(entry)
            say(f"adaptive: rung {rung}: {entry['lm_calls']} LM calls, dev accuracy "
                + ", ".join(f"{k} {v['accuracy']:.1%}" for k, v in new.items()))
            if best_name is not None and rung_best[1]["right"] < best_right + settings.min_gain:
                report["stopped"] = f"dev score stopped rising at {rung} ({rung_best[1]['right']} vs {best_right} right of {len(dev)})"
                if rung in _PREDICTOR_RUNGS:  # its tuned predictor did not earn its place
                    program.predict.demos, program.predict.signature = saved
                break
            best_name, best_right = rung_best[0], rung_best[1]["right"]
            if rung in _PREDICTOR_RUNGS:
                tuned = (list(program.predict.demos), program.predict.signature)
        if best_name is not None and not best_name.startswith(_PREDICTOR_RUNGS):
            program.predict.demos = []  # no predictor rung won: the zero-shot view has no static demos
            program.predict.signature = spec.program_factory().predict.signature
        elif best_name is not None:
            program.predict.demos, program.predict.signature = tuned

    chosen = candidates.get(best_name) if best_name else None
    final: dict[str, Any] = dict(learned)
    if chosen is None:
        final["views"] = ["zero_shot"]
        report["chosen"] = None
    else:
        final["views"] = chosen["views"]
        if chosen["head"]:
            final["head"] = fit_head(chosen["head"], [views[r] for r in chosen["rungs"]], gold, labels, settings,
                                     temperature=chosen["temperature"])
        dev_right = chosen["right"] / len(dev)
        final["fallback_confidence"] = round(dev_right, 4)
        report["chosen"] = {"candidate": best_name, "views": chosen["views"], "head": chosen["head"],
                            "dev_accuracy": chosen["accuracy"], "calls_per_query": chosen["calls_per_query"]}
    if "retrieved" not in final["views"]:
        for key in ("k", "pool", "pool_features"):
            final.pop(key, None)
    if fast is not None and crossfit is not None:
        calibrated = [(label, platt_apply(fast["platt"], p)) for label, p in crossfit]
        if chosen is not None:
            composite = tune_threshold([calibrated[i] for i in dev], chosen["predicted"], gold, settings.min_gain)
        else:
            composite = tune_threshold([calibrated[i] for i in dev], [None] * len(dev), gold, settings.min_gain)
        fast["threshold"] = composite["threshold"]
        final["fast_tier"] = fast
        report["composite"] = composite
        report["classifier_crossfit_accuracy"] = round(sum(l == g for (l, _), g in zip(crossfit, gold_all)) / len(gold_all), 4)
    program.set_learned(final)
    report["compile"] = {**meter.snapshot(), "seconds": round(time.monotonic() - started, 2)}
    return Outcome(program=program, report=report)


def _candidates_after(rung: str, views: dict[str, DevAnswers], gold: list[str], labels: tuple[str, ...], settings: Settings) -> dict[str, dict[str, Any]]:
    """The candidates a rung makes possible, each scored on the dev rows (heads: cross-validated)."""
    view_of = {"zero_shot": "zero_shot", "retrieved": "retrieved", "bootstrap": "zero_shot", "simba": "zero_shot"}
    combos: list[tuple[str, list[str]]] = [(rung, [rung])]
    if rung == "retrieved" and "zero_shot" in views:
        combos.append(("zero_shot+retrieved", ["zero_shot", "retrieved"]))
    out: dict[str, dict[str, Any]] = {}
    for name, rungs in combos:
        common = {"rungs": rungs, "views": [view_of[r] for r in rungs], "calls_per_query": len(rungs)}
        if len(rungs) == 1:
            predicted, _ = argmax_answers(views[rungs[0]])
            right = sum(p == g for p, g in zip(predicted, gold))
            out[name] = {**common, "head": None, "right": right, "accuracy": round(right / len(gold), 4), "predicted": predicted}
        for kind in ("bias", "lr"):
            cv = head_cv(kind, [views[r] for r in rungs], gold, labels, settings)
            right = sum(p == g for p, g in zip(cv["predicted"], gold))
            out[f"{name}+{kind}"] = {**common, "head": kind, "right": right, "accuracy": round(cv["accuracy"], 4),
                                     "predicted": cv["predicted"], "temperature": cv["temperature"]}
    return out


def _bootstrap_demos(program: Any, spec: Any, rows: list[dict[str, Any]], dev: set[int], settings: Settings, budget: int) -> dict[str, Any]:
    """BootstrapFewShot on the rows outside dev, setting the predictor's static demos."""
    import dspy
    from dspy.teleprompt import BootstrapFewShot

    train = [spec.build_example(r) for i, r in enumerate(rows) if i not in dev]
    if not train:
        return {"reason": "no training rows outside the dev split"}
    if budget < settings.max_bootstrapped_demos:
        return {"reason": f"budget: {budget} calls left for bootstrapping"}
    student = dspy.Predict(program.predict.signature)
    # One round, and at most `budget` training examples tried: each try is one LM call.
    teleprompter = BootstrapFewShot(metric=spec.metric, max_bootstrapped_demos=settings.max_bootstrapped_demos,
                                    max_labeled_demos=settings.max_labeled_demos, max_rounds=1)
    random.Random(settings.seed).shuffle(train)
    compiled = teleprompter.compile(student, trainset=train[:budget])
    if not compiled.demos:
        return {"reason": "no demo bootstrapped: the model answered none of the tried examples right"}
    program.predict.demos = list(compiled.demos)
    return {"demos": len(compiled.demos)}


SIMBA_BSIZE = 32  # SIMBA's defaults (pipeline.optimizers uses the same)
SIMBA_CANDIDATES = 6


def _simba(program: Any, spec: Any, rows: list[dict[str, Any]], dev: set[int], settings: Settings, budget: int) -> dict[str, Any]:
    """SIMBA on the predictor with the rows outside dev, for as many steps as the budget pays
    (measured: ~2 · bsize · candidates LM calls a step)."""
    import dspy
    from dspy.teleprompt import SIMBA

    train = [spec.build_example(r) for i, r in enumerate(rows) if i not in dev]
    bsize = min(SIMBA_BSIZE, len(train))
    per_step = 2 * bsize * SIMBA_CANDIDATES
    steps = budget // per_step if bsize else 0
    if steps < 1:
        return {"reason": f"budget: SIMBA needs ~{per_step} calls a step, {budget} left"}
    student = dspy.Predict(program.predict.signature)
    teleprompter = SIMBA(metric=spec.metric, bsize=bsize, num_candidates=SIMBA_CANDIDATES, max_steps=steps,
                         max_demos=settings.max_bootstrapped_demos)
    compiled = teleprompter.compile(student, trainset=train, seed=settings.seed)
    predictor = compiled if isinstance(compiled, dspy.Predict) else compiled.named_predictors()[0][1]
    program.predict.demos = list(predictor.demos)
    program.predict.signature = predictor.signature
    return {"steps": steps, "demos": len(predictor.demos)}
