"""One real compile per agent-module family on the project's local LM (SmolLM2-135M, in
process): a structured module (query_analysis, distilled from a teacher) and a judged text
(summary_generation, judged on the context LM) each train, evaluate and are gated. Slow.

What is asserted is that the whole path runs on a real model and reports what it spent; the
scores of a 135M model are printed (`-s`), not asserted."""

from __future__ import annotations

import json

import pytest

from pipeline import layout
from pipeline.config import LMSpec, PipelineConfig, StorageConfig
from pipeline.run.context import StageContext
from pipeline.stages import evaluate, gate, train
from pipeline.storage import open_store
from tests.test_agent_modules import CONTENT, qa_labels, qa_query, text_row

pytestmark = pytest.mark.slow


def context(tmp_path, max_tokens: int, teacher: bool) -> StageContext:
    # one thread: on a shared 2-core machine llama.cpp threads fighting other jobs are ~4x slower (measured)
    lm = LMSpec(model="local:smollm2-135m", n_ctx=2048, max_tokens=max_tokens, n_threads=1)
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.llm.primary = lm
    config.llm.teacher = lm.model_copy() if teacher else None
    config.training.min_train_examples = 4
    config.training.max_bootstrapped_demos = 2
    config.training.max_labeled_demos = 4
    config.training.num_teacher_examples = 3
    config.gate.min_heldout_examples = 3
    return StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")


def put_golden(ctx: StageContext, module: str, rows: list[dict]) -> None:
    ctx.store.put_overwrite(layout.golden_key(ctx.tenant, module), "".join(json.dumps(r) + "\n" for r in rows).encode())


def report(name: str, trained, evaluated, gated) -> None:
    d = evaluated.distillation or {}
    print(f"\n{name}: trained on {trained.trainset_size} ({trained.synthetic_train} teacher-labelled), {trained.compile_lm_calls} "
          f"compile calls, {trained.compile_seconds:.0f} s; held-out {evaluated.n}: uncompiled {d.get('uncompiled_student')} → "
          f"compiled {d.get('compiled_student')} (LM calls {d.get('lm_calls')}, judge {d.get('judge_lm_calls')}, teacher calls "
          f"{d.get('teacher_calls')}, cache hits {d.get('cache_hits')}); gate {gated.decision}: {gated.reasons}")


def test_query_analysis_distils_and_compiles_on_the_local_lm(tmp_path):
    ctx = context(tmp_path, max_tokens=96, teacher=True)
    put_golden(ctx, "query_analysis", [{"query": qa_query(i), **qa_labels(i)} for i in range(9)]
               + [{"query": qa_query(i)} for i in range(9, 12)])
    trained = train.run(ctx, train.TrainInputs(target="query_analysis", optimizer="BootstrapFewShot", max_iterations=1))
    assert trained.status == "ok", trained.reason
    assert trained.distillation["asked"] == 3 and trained.distillation["teacher_calls"] >= trained.distillation["teacher_labelled"]
    integration = ctx.store.get_json(layout.artifact_key(trained.artifact_prefix, layout.INTEGRATION_FILE))
    assert integration["model_config"]["model"] == "local:smollm2-135m"
    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="query_analysis"))
    assert evaluated.status == "ok" and evaluated.n == 3 and 0.0 <= evaluated.candidate_metrics.mean_score <= 1.0
    assert evaluated.lm_calls["candidate"] == 3 and evaluated.distillation["uncompiled_student"] is not None
    gated = gate.run(ctx, gate.GateInputs(target="query_analysis"))
    assert gated.decision in ("promoted", "rejected")
    report("query_analysis", trained, evaluated, gated)


def test_summary_generation_compiles_and_is_judged_on_the_local_lm(tmp_path):
    ctx = context(tmp_path, max_tokens=80, teacher=False)
    reference = ("The council approved the transit budget: bus routes expand to the northern districts, fares stay the same, "
                 "and the tram extension starts in spring with a regional grant.")
    put_golden(ctx, "summary_generation", [text_row(i, "summary", reference) for i in range(7)])
    trained = train.run(ctx, train.TrainInputs(target="summary_generation", optimizer="BootstrapFewShot", max_iterations=1))
    assert trained.status == "ok", trained.reason
    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="summary_generation"))
    assert evaluated.status == "ok" and evaluated.n == 2 and evaluated.distillation["judge_lm_calls"] >= 2
    assert 0.0 <= evaluated.candidate_metrics.mean_score <= 1.0 and CONTENT
    gated = gate.run(ctx, gate.GateInputs(target="summary_generation"))
    assert gated.decision in ("promoted", "rejected")
    report("summary_generation", trained, evaluated, gated)
