"""The teacher's labels of unlabelled golden queries, cached in the store so that a re-run
(or the next run) does not pay the teacher again.

Keyed by sha256 of (module, the query's inputs, the teacher's settings that change its answers).
Append-only: each run that labels something new writes one new JSON Lines object (named by the
hash of its content) under the teacher's prefix, create-only; existing objects are never
rewritten, and reading merges them all (the first label of a key wins).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline.errors import AlreadyExistsError, ConfigError
from pipeline.jsonlines import parse_jsonl
from pipeline.layout import teacher_batch_key, teacher_cache_prefix

_LM_FIELDS = ("model", "temperature", "max_tokens", "n_ctx", "chat_format")


def _digest(value: Any, n: int = 32) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:n]


class TeacherCache:
    def __init__(self, store: Any, tenant: str, module: str, teacher_spec: Any) -> None:
        self.store, self.tenant, self.module = store, tenant, module
        self.teacher = {field: getattr(teacher_spec, field, None) for field in _LM_FIELDS}
        self.teacher_digest = _digest(self.teacher)
        self.prefix = teacher_cache_prefix(tenant, module, self.teacher_digest)
        self._known: dict[str, dict[str, Any]] | None = None
        self._new: list[dict[str, Any]] = []

    def key(self, inputs: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps({"module": self.module, "inputs": inputs, "teacher": self.teacher},
                                         sort_keys=True, default=str).encode()).hexdigest()

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._known is None:
            self._known = {}
            for key in sorted(self.store.list(self.prefix + "/")):
                try:
                    text = self.store.get(key).decode()
                except UnicodeDecodeError as exc:
                    raise ConfigError(f"{self.store.describe(key)} is not UTF-8 text") from exc
                for _, row in parse_jsonl(text, self.store.describe(key)):
                    if isinstance(row, dict) and isinstance(row.get("key"), str) and isinstance(row.get("labels"), dict):
                        self._known.setdefault(row["key"], row["labels"])
        return self._known

    def get(self, inputs: dict[str, Any]) -> dict[str, Any] | None:
        return self._load().get(self.key(inputs))

    def put(self, inputs: dict[str, Any], labels: dict[str, Any]) -> None:
        key = self.key(inputs)
        self._load().setdefault(key, labels)
        self._new.append({"key": key, "inputs": inputs, "labels": labels})

    def flush(self) -> str | None:
        """Write this run's new labels as one new object; its key, or None when nothing is new."""
        if not self._new:
            return None
        data = "".join(json.dumps(row, sort_keys=True, default=str) + "\n" for row in self._new).encode()
        key = teacher_batch_key(self.tenant, self.module, self.teacher_digest, hashlib.sha256(data).hexdigest()[:32])
        try:
            self.store.put_new(key, data)
        except AlreadyExistsError:
            pass  # the same labels, written by a concurrent or earlier attempt
        self._new = []
        return key
