"""The profile selector: which backend schemas a generator samples. Rules by default (each
generator's own), an LLM's choice when `content.profile_selection: llm`; an unusable LLM answer
falls back to the rules and says so."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.content import ContentProfile
from pipeline.synthetic.generators import Generator
from pipeline.synthetic.schemas import SelectionMode, SyntheticDataRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    names: list[str]
    mode: SelectionMode
    reasoning: str


def select_profiles(
    generator: Generator, candidates: list[ContentProfile], request: SyntheticDataRequest, mode: str,
) -> Selection:
    """With mode `llm`, a DSPy LM must be active (the caller's lm_context)."""
    if mode != "llm" or not candidates:
        names, reasoning = generator.select(candidates, request)
        return Selection(names, "rules", reasoning)
    try:
        names, reasoning = _ask_llm(generator, candidates, request)
    except Exception as exc:
        if is_lm_outage(exc):
            raise
        names, reasoning = [], f"unparseable answer ({type(exc).__name__}: {str(exc)[:120]})"
    modalities = {p.modality for p in candidates if p.name in names}
    if names and len(modalities) >= generator.min_modalities:
        return Selection(names, "llm", f"llm: {reasoning}")
    why = reasoning if not names else f"chose {', '.join(names)}, fewer than {generator.min_modalities} modalities"
    names, rules_reasoning = generator.select(candidates, request)
    log.warning("LLM profile selection for %s unusable (%s); using the rules", generator.name, why)
    return Selection(names, "llm-fallback", f"llm answer unusable ({why}); {rules_reasoning}")


def _ask_llm(generator: Generator, candidates: list[ContentProfile], request: SyntheticDataRequest) -> tuple[list[str], str]:
    from pipeline.synthetic.programs import ProfileChooser

    chooser = ProfileChooser([p.name for p in candidates], request.max_profiles)
    listing = "\n".join(f"{p.name} ({p.modality}): {p.description or 'no description'}" for p in candidates)
    pred = chooser(optimizer=generator.name, task=generator.task, profiles=listing, max_profiles=request.max_profiles)
    known = {p.name for p in candidates}
    chosen = [name for name in dict.fromkeys(pred.selected or []) if name in known][: request.max_profiles]
    return chosen, str(pred.reasoning or "").strip() or "no reason given"


def is_lm_outage(exc: BaseException) -> bool:
    """An LM that cannot be reached or is misconfigured fails the stage; a bad answer does not."""
    from pipeline.errors import ConfigError, is_lm_unreachable

    return isinstance(exc, ConfigError) or is_lm_unreachable(exc)
