"""What every entry point agrees on about a run: the stages' order and the defaults and bounds
of the run parameters. Declared here once; the CLI (flags and defaults), `batch`, the stages'
input models, the Hera definitions (workflows/) and the chart's values schema read them.

Exit codes and which failures a retry can fix are the other half of the contract: they are
the error classes' (pipeline.errors).
"""

from __future__ import annotations

# A run's stages in the order they run. The first four and the last commit once per run; the
# per-target ones once per (target, attempt), fanned out over the plan's `train` list.
BEFORE_TARGETS: tuple[str, ...] = ("harvest", "annotate", "plan", "synthesize")
PER_TARGET: tuple[str, ...] = ("train", "evaluate", "gate")
AFTER_TARGETS: tuple[str, ...] = ("report",)
STAGE_ORDER: tuple[str, ...] = BEFORE_TARGETS + PER_TARGET + AFTER_TARGETS
EXIT_HANDLER = "record"  # runs last, whether the run passed or failed


def previous(stage: str) -> str:
    """The stage that runs right before `stage` (what it depends on)."""
    index = STAGE_ORDER.index(stage)
    if index == 0:
        raise ValueError(f"{stage} is the first stage")
    return STAGE_ORDER[index - 1]


# Run parameters: defaults, and bounds where a value outside them is a typo.
LOOKBACK_HOURS = 24.0  # harvest window
MAX_LOOKBACK_HOURS = 8760  # one year: a longer window is a typo, and would overflow the clock
MIN_CONFIDENCE = 0.7  # unannotated decisions at or above it are trusted (with a good outcome)
MAX_ITERATIONS = 100  # optimizer iteration budget per target
IMPROVEMENT_THRESHOLD_PCT = 5.0  # relative improvement a candidate needs to be promoted
ANNOTATION_THRESHOLD = 0  # fewer LLM annotations in the run: no training (unless forced)
DEFAULT_ATTEMPT = "1"  # the train/evaluate/gate attempt id when none is given
RETENTION_DAYS = 30  # maintenance: runs older than this are deleted
MAX_RETENTION_DAYS = 36500  # a century: beyond it the cut-off date overflows


def parameter_text(value: float | int | bool) -> str:
    """A default as an Argo parameter value (`24`, `0.7`, `true`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}"


# The span contract (README, "The span contract"): the root spans harvest reads. Their
# attributes are pipeline.phoenix_io's ROUTING_ATTRIBUTES / ORCHESTRATION_ATTRIBUTES.
ROUTING_SPAN = "cogniverse.routing"  # one routing decision
ORCHESTRATION_SPAN = "cogniverse.orchestration"  # one multi-agent workflow execution
ORCHESTRATION_PATTERNS: tuple[str, ...] = ("sequential", "parallel", "conditional")
