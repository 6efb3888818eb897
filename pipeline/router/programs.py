"""A tenant's production programs, cached, and reloaded when `production.json` changes.

`get(target)` answers from the cache; at most every `refresh_s` seconds it reads
`tenants/{t}/modules/{target}/production.json` again and compares its version token (the ETag on
S3, a content hash locally): a new promotion or a rollback loads the program it points at. If
the store cannot be read at a check, the cached program keeps serving (logged) and the next
check comes `refresh_s` later: a router must not stop routing because the store blinked.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import ValidationError

from pipeline.errors import ConfigError, NotFoundError, PipelineError
from pipeline.layout import production_key
from pipeline.modules import parse_target
from pipeline.tenant import validate_tenant_id

log = logging.getLogger(__name__)
UNOPTIMIZED = "unoptimized"


@dataclass(frozen=True)
class LoadedProgram:
    target: str
    program: Any  # the module's DSPy program with its trained state
    version: str  # "v<sequence>", or "unoptimized"
    sequence: int | None
    artifact_prefix: str | None
    token: str | None  # production.json's version token when it was read


@dataclass
class _Entry:
    loaded: LoadedProgram
    checked_at: float


class ProductionPrograms:
    def __init__(self, store: Any, tenant: str, *, refresh_s: float = 30.0, allow_unoptimized: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.tenant = validate_tenant_id(tenant)
        self.refresh_s = refresh_s
        self.allow_unoptimized = allow_unoptimized
        self.clock = clock
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.loads = 0  # programs loaded (a reload is one more): what a test or a metric counts

    def get(self, target: str) -> LoadedProgram:
        with self._lock:
            entry = self._cache.get(target)
            now = self.clock()
            if entry is not None and now - entry.checked_at < self.refresh_s:
                return entry.loaded
            try:
                loaded = self._check(target, entry.loaded if entry else None)
            except PipelineError as exc:
                if entry is None:
                    raise
                log.warning("keeping %s %s of tenant %s: cannot check production.json (%s)",
                            target, entry.loaded.version, self.tenant, exc)
                loaded = entry.loaded
            self._cache[target] = _Entry(loaded, now)
            return loaded

    def _check(self, target: str, cached: LoadedProgram | None) -> LoadedProgram:
        from pipeline.promotion import ProductionPointer

        module_name, _ = parse_target(target)
        key = production_key(self.tenant, target)
        try:
            versioned = self.store.get_versioned(key)
        except NotFoundError:
            if cached is not None:
                return cached
            if self.allow_unoptimized:
                from pipeline.modules import load_module

                self.loads += 1
                return LoadedProgram(target, load_module(module_name).program_factory(), UNOPTIMIZED, None, None, None)
            raise NotFoundError(
                f"tenant {self.tenant} has no {target} program in production ({self.store.describe(key)}); "
                "promote one first, or allow the unoptimized program"
            ) from None
        if cached is not None and cached.token == versioned.version:
            return cached
        try:
            pointer = ProductionPointer.model_validate_json(versioned.data)
        except ValidationError as exc:
            raise ConfigError(f"{self.store.describe(key)} is not a valid production record: {exc}") from exc
        from pipeline.run.train import load_program

        program = load_program(self.store, module_name, pointer.artifact_prefix)
        self.loads += 1
        if cached is not None:
            log.info("tenant %s %s: production changed %s → v%d", self.tenant, target, cached.version, pointer.sequence)
        return LoadedProgram(target, program, f"v{pointer.sequence}", pointer.sequence, pointer.artifact_prefix, versioned.version)
