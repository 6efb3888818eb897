"""Answers of long-lived programs, cached in the store by (program hash, LM, example hash).

Every run evaluates production (or the unoptimized program) on held-out examples that mostly did
not change since the last run; at seconds per LM call that is most of an evaluation's cost. The
key covers everything the answer depends on: the program's full JSON state, the LM settings
that change outputs, and the example's inputs. Entries are create-only, like every artifact.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline.errors import AlreadyExistsError, NotFoundError
from pipeline.layout import prediction_cache_key

# LM settings that change what a model answers; endpoints, keys, timeouts and retries do not.
_LM_FIELDS = ("model", "temperature", "max_tokens", "n_ctx", "chat_format")
_ANSWER_FIELDS = ("predicted", "confidence", "error", "tier", "classifier", "latency_s", "answer")


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


class PredictionCache:
    def __init__(self, store: Any, tenant: str, program: Any, lm_spec: Any) -> None:
        self.store, self.tenant = store, tenant
        self.program_digest = digest(program.dump_state())
        self.lm_digest = digest({field: getattr(lm_spec, field, None) for field in _LM_FIELDS})

    def _key(self, inputs: dict[str, Any]) -> str:
        return prediction_cache_key(self.tenant, self.lm_digest, self.program_digest, digest(inputs))

    def get(self, inputs: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.store.get_json(self._key(inputs))
        except NotFoundError:
            return None

    def put(self, inputs: dict[str, Any], row: dict[str, Any]) -> None:
        try:
            self.store.put_json_new(self._key(inputs), {k: row.get(k) for k in _ANSWER_FIELDS})
        except AlreadyExistsError:
            pass  # a concurrent evaluation cached the same answer
