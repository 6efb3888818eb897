"""Optimizer choice and real compile runs of all four DSPy optimizers against scripted DummyLMs.

The scripted LM is a `dspy.utils.DummyLM` in its follow-examples mode, whose hook receives the
whole prompt: it answers "hard" routing queries correctly only when the prompt carries what an
optimizer adds (a demo, or an instruction containing HINT), so a compile that loses the
optimizer's work scores no better than the baseline and the test fails.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from typing import Any, Callable

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402
import pytest  # noqa: E402
from dspy.utils import DummyLM  # noqa: E402

from pipeline.config import OptimizerTiers  # noqa: E402
from pipeline.errors import ConfigError  # noqa: E402
from pipeline.modules.common import agent_match  # noqa: E402
from pipeline.modules.routing import RoutingModule, build_example  # noqa: E402
from pipeline.optimizers import (  # noqa: E402
    GEPA_REFLECTION_MINIBATCH,
    OPTIMIZERS,
    SIMBA_NUM_CANDIDATES,
    choose_optimizer,
    compile_program,
    feedback_metric_for,
)

HINT = "Route by the medium the user names"  # what a proposed instruction / rule carries

# (query, label, easy): easy queries are answered right even by the unoptimized program.
QUERIES: list[tuple[str, str, bool]] = [
    ("find the clip where the goalkeeper saves a penalty", "video_search_agent", True),
    ("show me photos of red pandas", "image_search_agent", False),
    ("transcribe the podcast episode about rust", "audio_analysis_agent", True),
    ("where is the vendor contract pdf from march", "document_agent", False),
    ("articles about battery recycling", "text_search_agent", True),
    ("give me a tl;dr of the quarterly review", "summarizer_agent", False),
    ("write an in-depth analysis of churn drivers", "detailed_report_agent", True),
    ("diagram of the network topology", "image_search_agent", False),
    ("the moment the rocket lands in the launch video", "video_search_agent", True),
    ("key points of the onboarding slides", "summarizer_agent", False),
    ("recording of the board meeting speech", "audio_analysis_agent", True),
    ("user manual for the espresso machine", "document_agent", False),
    ("blog posts comparing vector databases", "text_search_agent", True),
    ("long report on supply chain risks in 2025", "detailed_report_agent", False),
    ("pictures from the product launch", "image_search_agent", True),
    ("footage of the marathon finish", "video_search_agent", False),
]
LABELS = {q: label for q, label, _ in QUERIES}
EASY = {q for q, _, easy in QUERIES if easy}
WRONG = {label: ("summarizer_agent" if label != "summarizer_agent" else "video_search_agent") for label in LABELS.values()}


def _examples() -> list[dspy.Example]:
    return [build_example({"query": q, "label": label, "context": None}) for q, label, _ in QUERIES]


TRAINSET = _examples()[:10]
VALSET = _examples()[10:]


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


def scripted_answer(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Routing prompts get a routing answer; any other prompt (MIPROv2's proposer, GEPA's
    reflection, SIMBA's advice) gets every field those signatures ask for, carrying HINT."""
    system = messages[0]["content"]
    if "1. `recommended_agent`" in system:
        query = re.search(r"\[\[ ## query ## \]\]\n(.*?)\n", messages[-1]["content"]).group(1)
        gold = LABELS[query]
        helped = HINT in system or len(messages) > 2  # an optimized instruction, or any demo
        agent = gold if (query in EASY or helped) else WRONG[gold]
        return {"recommended_agent": agent, "confidence": 0.9, "reasoning": "It names the medium."}
    return {
        "observations": "Short search requests, each naming a medium.",
        "summary": "Search requests naming a medium.",
        "program_description": "Routes a query to an agent.",
        "module_description": "Picks the agent.",
        "proposed_instruction": f"{HINT}: pick the agent for that medium.",
        "new_instruction": f"{HINT}: pick the agent for that medium.",
        "discussion": "The worse run ignored the medium.",
        "module_advice": {"predict": f"{HINT}: pick the agent for that medium."},
    }


class ScriptedLM(DummyLM):
    """DummyLM whose follow-examples hook sees every message and answers by `answer`.

    Call counts are shared with the copies optimizers make (`LM.copy` is shallow)."""

    def __init__(self, answer: Callable[[list[dict[str, Any]]], dict[str, Any]] = scripted_answer) -> None:
        super().__init__([], follow_examples=True)
        self.answer = answer
        self.calls = _Counter()

    def _use_example(self, messages):
        self.calls.add()
        fields = self.answer(messages)
        if "[[ ## completed ## ]]" not in messages[0]["content"]:
            return json.dumps(fields)  # a JSONAdapter prompt (GEPA's instruction proposer)
        parts = [f"[[ ## {k} ## ]]\n{v if isinstance(v, str) else json.dumps(v)}" for k, v in fields.items()]
        return "\n\n".join(parts) + "\n\n[[ ## completed ## ]]"


def accuracy(program: dspy.Module, lm: dspy.BaseLM, dataset: list[dspy.Example]) -> float:
    with dspy.context(lm=lm):
        return sum(agent_match(ex, program(**ex.inputs())) for ex in dataset) / len(dataset)


def assert_round_trips(program: dspy.Module) -> RoutingModule:
    assert isinstance(program, RoutingModule)
    text = json.dumps(program.dump_state())
    fresh = RoutingModule()
    fresh.load_state(json.loads(text))
    assert fresh.predict.signature.instructions == program.predict.signature.instructions
    assert len(fresh.predict.demos) == len(program.predict.demos)
    assert fresh.predict.lm is None  # no LM pinned into the artifact
    return fresh


@pytest.fixture(autouse=True)
def _quiet_dspy_logs():
    # The optimizers log every trial at INFO/WARNING; pytest keeps them for failures anyway.
    logger = logging.getLogger("dspy")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def run(optimizer: str, lm: ScriptedLM, **kwargs: Any):
    params = dict(max_iterations=2, seed=13, max_bootstrapped_demos=2, max_labeled_demos=4)
    params.update(kwargs)
    with dspy.context(lm=lm):
        return compile_program(optimizer, RoutingModule(), TRAINSET, VALSET, agent_match, **params)


# --- choice -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "BootstrapFewShot"),
        (99, "BootstrapFewShot"),
        (100, "SIMBA"),
        (101, "SIMBA"),
        (499, "SIMBA"),
        (500, "MIPROv2"),
        (999, "MIPROv2"),
        (1000, "GEPA"),
        (50_000, "GEPA"),
    ],
)
def test_seed_default_tiers(size: int, expected: str) -> None:
    assert choose_optimizer(size, OptimizerTiers()) == expected


def test_tiers_come_from_config() -> None:
    tiers = OptimizerTiers(bootstrap_below=10, simba_below=20, mipro_below=30)
    assert [choose_optimizer(n, tiers) for n in (9, 10, 19, 20, 29, 30)] == [
        "BootstrapFewShot", "SIMBA", "SIMBA", "MIPROv2", "MIPROv2", "GEPA",
    ]


def test_forced_choice_wins_and_ignores_case() -> None:
    assert choose_optimizer(5, OptimizerTiers(), forced="gepa") == "GEPA"
    assert choose_optimizer(5000, OptimizerTiers(), forced=" BootstrapFewShot ") == "BootstrapFewShot"
    assert choose_optimizer(5, OptimizerTiers(), forced="miprov2") == "MIPROv2"
    assert choose_optimizer(5, OptimizerTiers(), forced="Simba") == "SIMBA"
    assert all(choose_optimizer(0, OptimizerTiers(), forced=name) == name for name in OPTIMIZERS)


def test_unknown_forced_optimizer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="COPRO"):
        choose_optimizer(5, OptimizerTiers(), forced="COPRO")


def test_compile_rejects_bad_requests() -> None:
    lm = ScriptedLM()
    with pytest.raises(ConfigError):
        run("COPRO", lm)
    with pytest.raises(ConfigError, match="valset"):
        with dspy.context(lm=lm):
            compile_program("GEPA", RoutingModule(), TRAINSET, [], agent_match, max_iterations=1, seed=1,
                            max_bootstrapped_demos=1, max_labeled_demos=1)
    with pytest.raises(ConfigError, match="max_iterations"):
        run("SIMBA", lm, max_iterations=0)
    assert lm.calls.value == 0


def test_feedback_metric_names_expected_and_predicted() -> None:
    metric = feedback_metric_for(agent_match)
    gold = TRAINSET[1]
    wrong = metric(gold, dspy.Prediction(recommended_agent="summarizer_agent", reasoning="short"))
    assert wrong.score == 0.0
    assert "image_search_agent" in wrong.feedback and "summarizer_agent" in wrong.feedback
    right = metric(gold, dspy.Prediction(recommended_agent="image_search_agent"), None, "route", [])
    assert right.score == 1.0 and "Correct" in right.feedback
    assert metric(gold, None).score == 0.0


# --- real compile runs ------------------------------------------------------------------------


def test_baseline_is_half_right() -> None:
    lm = ScriptedLM()
    assert accuracy(RoutingModule(), lm, TRAINSET) == 0.5
    assert accuracy(RoutingModule(), lm, VALSET) == 0.5


def test_bootstrap_fewshot_attaches_teacher_demos() -> None:
    student_lm, teacher = ScriptedLM(), ScriptedLM()
    outcome = run("BootstrapFewShot", student_lm, teacher_lm=teacher, max_iterations=3)

    assert outcome.optimizer == "BootstrapFewShot"
    demos = outcome.program.predict.demos
    bootstrapped = [d for d in demos if d.get("augmented")]
    assert 1 <= len(bootstrapped) <= 2 and len(demos) <= 4
    # The teacher produced every trace; the student's LM was not used while compiling.
    assert student_lm.calls.value == 0
    assert 1 <= teacher.calls.value <= len(TRAINSET) * outcome.settings["max_rounds"]
    assert outcome.settings["max_rounds"] == 3 and outcome.settings["teacher_lm"] == "dummy"
    json.dumps(outcome.settings)

    fresh = assert_round_trips(outcome.program)
    assert accuracy(fresh, ScriptedLM(), VALSET) == 1.0


@pytest.mark.parametrize("with_teacher, num_threads", [(False, 1), (True, 2)])
def test_simba_small_trainset(with_teacher: bool, num_threads: int) -> None:
    lm, teacher = ScriptedLM(), ScriptedLM()
    outcome = run("SIMBA", lm, max_iterations=2, num_threads=num_threads, teacher_lm=teacher if with_teacher else None)

    settings = outcome.settings
    assert settings["bsize"] == len(TRAINSET) and settings["max_steps"] == 2
    json.dumps(settings)
    # Per step: num_candidates trajectories per example, ≤ num_candidates+1 new programs (one
    # advice call each) evaluated on the batch; then ≤ num_candidates+1 programs on the trainset.
    n, b = SIMBA_NUM_CANDIDATES, settings["bsize"]
    bound = settings["max_steps"] * (n * b + (n + 1) * (b + 1)) + (n + 1) * len(TRAINSET)
    calls = lm.calls.value + teacher.calls.value
    assert settings["max_steps"] * n * b < calls <= bound
    # The teacher samples one of the trajectories per example (and writes any advice).
    assert (teacher.calls.value >= settings["max_steps"] * b) if with_teacher else teacher.calls.value == 0

    program = outcome.program
    assert program.predict.demos or HINT in program.predict.signature.instructions
    fresh = assert_round_trips(program)
    assert accuracy(fresh, ScriptedLM(), VALSET) == 1.0


def test_miprov2_small_data_uses_teacher_as_prompt_model() -> None:
    lm, teacher = ScriptedLM(), ScriptedLM()
    outcome = run("MIPROv2", lm, teacher_lm=teacher, max_iterations=3)

    settings = outcome.settings
    assert settings["auto"] is None and settings["num_trials"] == 3 and settings["minibatch"] is False
    json.dumps(settings)
    # The teacher bootstraps the demo sets (≤ one pass over the trainset per set) and proposes:
    # ≤ 11 dataset-summary calls + 3 per proposed instruction (program, module, instruction).
    k = settings["num_candidates"]
    assert 1 <= teacher.calls.value <= k * len(TRAINSET) + 11 + 3 * k
    # Task LM: the trials, each a full valset evaluation plus the default program's.
    assert 0 < lm.calls.value <= (settings["num_trials"] + 1) * len(VALSET)

    program = outcome.program
    assert program.predict.demos or HINT in program.predict.signature.instructions
    fresh = assert_round_trips(program)
    assert accuracy(fresh, ScriptedLM(), VALSET) == 1.0


def test_gepa_reflects_with_teacher() -> None:
    lm, reflection = ScriptedLM(), ScriptedLM()
    outcome = run("GEPA", lm, teacher_lm=reflection, max_iterations=2)

    settings = outcome.settings
    assert settings["max_metric_calls"] == 2 * (len(TRAINSET) + len(VALSET))
    json.dumps(settings)
    assert reflection.calls.value >= 1
    # GEPA checks its budget before each iteration, so the last one may overshoot by one
    # iteration: two reflection minibatches and one valset evaluation.
    overshoot = 2 * GEPA_REFLECTION_MINIBATCH + len(VALSET)
    assert 0 < lm.calls.value <= settings["max_metric_calls"] + overshoot

    program = outcome.program
    assert HINT in program.predict.signature.instructions
    assert not program.predict.demos  # GEPA evolves instructions only
    fresh = assert_round_trips(program)
    assert accuracy(fresh, ScriptedLM(), VALSET) == 1.0
