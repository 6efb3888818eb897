"""Typed errors: the one source of exit codes and of what a retry can fix.

Each class says its exit code, what the code means (`meaning`, on the class that introduces the
code: the CLI's `--help` lists them from here) and whether it is `transient` (a dependency that
may come back: retried with backoff). Every entry point (`cogniverse-optimize`, `python -m
pipeline.argo.cli` and its lint, the demo, the demo seeder) turns what escapes it into an exit
code through `run_main` / `fail`, here; the Argo workflows' retry expression is generated from
`transient_exit_codes()` (workflows.common.transient_retry). `is_lm_unreachable` is the one test every stage uses to
tell "the LM is not there" (stop, exit 4) from "one unusable answer" (count it as wrong).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable


class PipelineError(Exception):
    """Base class: an expected failure with a message meant for the operator."""

    exit_code = 1
    transient = False  # True: the same call may succeed later, so the step is retried
    meaning = "unexpected error (a bug: the traceback is printed)"


class ConfigError(PipelineError):
    """Bad input: arguments, configuration, tenant ids, malformed files."""

    exit_code = 2
    meaning = ("bad input or configuration (arguments, files, a corrupted stored object, cluster credentials "
               "or permissions): the message names the flag, file or object")


class InvalidTenantError(ConfigError):
    """A tenant id that is not a DNS-label-like name."""


class ServiceUnavailableError(PipelineError):
    """A dependency stayed unreachable after retries with backoff."""

    exit_code = 3
    transient = True


class PhoenixUnavailableError(ServiceUnavailableError):
    exit_code = 3
    meaning = "Phoenix unreachable (or the endpoint answers but not as Phoenix's API)"


class LMUnavailableError(ServiceUnavailableError):
    exit_code = 4
    meaning = "LM unreachable"


class StoreUnavailableError(ServiceUnavailableError):
    exit_code = 5
    meaning = "object store unreachable"


class BackendUnavailableError(ServiceUnavailableError):
    """The search backend (Vespa) synthetic data is sampled from."""

    exit_code = 8
    meaning = "search backend (Vespa) unreachable"


class ClusterUnavailableError(ServiceUnavailableError):
    """The Kubernetes API server (the runs commands: submit, get, list, watch, outputs, logs)."""

    exit_code = 9
    meaning = "Kubernetes API server unreachable"


class ConflictError(PipelineError):
    """A conditional write lost: somebody else changed the object first."""

    exit_code = 6
    meaning = "conflict (a concurrent promotion won, or an object that must be new exists)"


class NotFoundError(PipelineError):
    """An object, artifact version or production pointer that does not exist."""

    exit_code = 7
    meaning = "not found (a stage output, version, production program, workflow, template, node or pod)"


class WorkflowFailedError(PipelineError):
    """A watched workflow ended Failed or Error: an answer about the run, not a fault of the tool."""

    exit_code = 10
    meaning = "the workflow ended Failed or Error (watch, submit --watch)"


class AlreadyExistsError(ConflictError):
    """A create-only write hit an existing object (artifacts are immutable)."""


def error_classes() -> list[type[PipelineError]]:
    """PipelineError and every subclass, base first."""
    found: list[type[PipelineError]] = []
    pending: list[type[PipelineError]] = [PipelineError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def exit_code_meanings() -> dict[int, str]:
    """Exit code → meaning, from the class that introduces each code (the one whose own body sets
    both `exit_code` and `meaning`), sorted by code."""
    found: dict[int, str] = {}
    for cls in error_classes():
        if "exit_code" in vars(cls) and "meaning" in vars(cls):
            if cls.exit_code in found:
                raise TypeError(f"exit code {cls.exit_code} has two meanings: {found[cls.exit_code]!r} and {cls.meaning!r}")
            found[cls.exit_code] = cls.meaning
    return dict(sorted(found.items()))


def transient_exit_codes() -> tuple[int, ...]:
    """The exit codes a retry can fix, sorted. An exit code is transient or not, never both:
    the workflow only sees the code."""
    transient = {cls.exit_code for cls in error_classes() if cls.transient}
    permanent = {cls.exit_code for cls in error_classes() if not cls.transient}
    if transient & permanent:
        raise TypeError(f"exit codes {sorted(transient & permanent)} are used by transient and permanent errors")
    return tuple(sorted(transient))


INTERRUPTED = 130  # what a shell reports for a process stopped by Ctrl-C (128 + SIGINT)


def exit_code(exc: BaseException) -> int:
    """The exit code of a process stopped by `exc`: a PipelineError's class code, 130 for an
    interrupt, 1 for anything else (a bug)."""
    if isinstance(exc, PipelineError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return 1


def fail(exc: BaseException) -> int:
    """Say why an entry point stops (one line for an expected failure, the traceback for a bug)
    and return its exit code."""
    if isinstance(exc, PipelineError):
        print(f"error: {exc}", file=sys.stderr)
    elif isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
    else:
        traceback.print_exception(exc)
    return exit_code(exc)


def run_main(body: Callable[[], int]) -> int:
    """An entry point's body, with every failure that escapes it mapped by `fail`. SystemExit
    passes through: it already is an exit code (argparse's 2 for bad usage, 0 for --help)."""
    try:
        return body()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place failures become exit codes
        return fail(exc)


# DSPy's errors (dspy.utils.exceptions) that mean "the LM is not there for us" after DSPy's
# own retries. pipeline.lm turns them into LMUnavailableError for every LM it builds; an LM
# built elsewhere raises them as they are.
DSPY_LM_UNREACHABLE = (
    "LMTransportError", "LMTimeoutError", "LMServerError", "LMRateLimitError",
    "LMAuthError", "LMBillingError", "LMUnsupportedModelError",
)


def dspy_unreachable_errors() -> tuple[type[BaseException], ...]:
    """DSPy's "LM unreachable" classes, or () when DSPy is not loaded (then none of its errors
    can be in flight, and this module stays free of the import)."""
    module = sys.modules.get("dspy.utils.exceptions")
    return () if module is None else tuple(getattr(module, name) for name in DSPY_LM_UNREACHABLE)


def is_lm_unreachable(exc: BaseException) -> bool:
    """The LM cannot be used at all (stop the stage, exit 4), as opposed to one unparseable or
    wrong answer (a wrong answer)."""
    return isinstance(exc, LMUnavailableError) or isinstance(exc, dspy_unreachable_errors())
