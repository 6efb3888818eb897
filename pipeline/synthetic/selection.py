"""Which generators a synthesize run runs: the configured ones (or those asked for), narrowed by
the run's plan to the modules it trains with synthetic data and the modalities it wants."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.synthetic.generators import get_generator


def generators_to_run(
    names: Iterable[str], wants: dict[str, list[str] | None] | None,
) -> tuple[dict[str, list[str] | None], dict[str, str]]:
    """Generator → the modalities it is restricted to (None: all), and why the others do not
    run. `wants`: module → modalities the plan trains with synthetic data (None: the module is
    not per modality); None when no plan narrows the run."""
    names = list(dict.fromkeys(names))
    for name in names:
        get_generator(name)  # unknown names fail before any work
    runs: dict[str, list[str] | None] = {}
    not_run: dict[str, str] = {}
    for name in names:
        if wants is not None and get_generator(name).trained:
            if name not in wants:
                not_run[name] = "the plan trains no target of this module with synthetic data"
                continue
            runs[name] = wants[name]
        else:
            runs[name] = None
    return runs, not_run


def by_agent(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Examples per agent (a cross-modal row's label is a modality: its agent is `agent`)."""
    counts: dict[str, int] = {}
    for row in rows:
        agent = row.get("agent") or row.get("label")
        if agent:
            counts[agent] = counts.get(agent, 0) + 1
    return dict(sorted(counts.items()))
