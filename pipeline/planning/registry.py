"""Meta-model versions in the object store: immutable versions, one mutable pointer.

A version is a folder `models/{kind}/v{n:06d}/` of XGBoost JSON files written create-only,
then `meta.json` (features, classes, training metadata) written create-only LAST: a version
without meta.json is an interrupted write and is never loaded, and its number is never
reused. `current.json` names the version plans use, swapped by compare-and-swap; a pointer
never moves to a model trained on fewer records than the one it names.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from pydantic import BaseModel

from pipeline.errors import AlreadyExistsError, ConfigError, ConflictError, NotFoundError
from pipeline import layout
from pipeline.layout import MODEL_META_FILE, model_pointer_key, model_version_prefix, models_prefix
from pipeline.planning.models import MODEL_KINDS, TrainingDecisionModel, TrainingStrategyModel
from pipeline.storage import ObjectStore

META_FILE = MODEL_META_FILE
_VERSION_DIR = re.compile(r"/v([0-9]{6,})/")
_ATTEMPTS = 5

log = logging.getLogger(__name__)

Model = TrainingDecisionModel | TrainingStrategyModel


class ModelPointer(BaseModel):
    kind: str
    version: int
    prefix: str
    records: int  # history records with an outcome the model was trained on
    created_at: str


def current(store: ObjectStore, tenant: str, kind: str) -> ModelPointer | None:
    try:
        return ModelPointer.model_validate(store.get_json(model_pointer_key(tenant, _check(kind))))
    except NotFoundError:
        return None


def load(store: ObjectStore, pointer: ModelPointer) -> Model:
    cls = MODEL_KINDS[_check(pointer.kind)]
    metadata = store.get_json(layout.key(pointer.prefix, META_FILE))
    files = {name: store.get(layout.key(pointer.prefix, name)) for name in cls.FILES}
    return cls.from_files(files, metadata)


def publish(store: ObjectStore, tenant: str, model: Model) -> ModelPointer:
    """Save `model` as a new version and point `current` at it unless the current one was
    trained on more records. Returns the new version's pointer."""
    kind = model.metadata["kind"]
    for _ in range(_ATTEMPTS):
        version = _next_version(store, tenant, kind)
        prefix = model_version_prefix(tenant, kind, version)
        created_at = datetime.now(timezone.utc).isoformat()
        try:
            for name, data in model.files().items():
                store.put_new(layout.key(prefix, name), data)
            meta = {**model.metadata, "version": version, "created_at": created_at}
            store.put_json_new(layout.key(prefix, META_FILE), meta)
        except AlreadyExistsError:
            continue  # a concurrent plan took this number: take the next one
        model.metadata = meta
        ours = ModelPointer(kind=kind, version=version, prefix=prefix, records=meta["records"], created_at=created_at)
        _point_at(store, tenant, ours)
        return ours
    raise ConflictError(f"could not save a {kind} meta-model for {tenant}: {_ATTEMPTS} concurrent writers took every version")


def versions(store: ObjectStore, tenant: str, kind: str) -> list[int]:
    """Complete versions (meta.json written), oldest first."""
    return sorted(
        int(m.group(1))
        for key in store.list(models_prefix(tenant, _check(kind)))
        if key.endswith(f"/{META_FILE}") and (m := _VERSION_DIR.search(key))
    )


def _point_at(store: ObjectStore, tenant: str, ours: ModelPointer) -> None:
    key = model_pointer_key(tenant, ours.kind)
    data = (ours.model_dump_json(indent=2) + "\n").encode()
    for _ in range(_ATTEMPTS):
        try:
            got = store.get_versioned(key)
        except NotFoundError:
            got = None
        if got is not None:
            theirs = ModelPointer.model_validate(json.loads(got.data))
            if (theirs.records, theirs.version) >= (ours.records, ours.version):
                log.info("%s meta-model v%d (%d records) stays current over v%d", ours.kind, theirs.version, theirs.records, ours.version)
                return
        try:
            store.put_if(key, data, expected_version=None if got is None else got.version)
            return
        except ConflictError:  # AlreadyExistsError too: re-read and compare again
            continue
    raise ConflictError(f"could not point {tenant}'s {ours.kind} meta-model at v{ours.version}: kept losing the race")


def _next_version(store: ObjectStore, tenant: str, kind: str) -> int:
    # Every version folder counts, complete or not: an interrupted write's number is burnt.
    numbers = [int(m.group(1)) for key in store.list(models_prefix(tenant, kind)) if (m := _VERSION_DIR.search(key))]
    return max(numbers, default=0) + 1


def _check(kind: str) -> str:
    if kind not in MODEL_KINDS:
        raise ConfigError(f"unknown meta-model kind {kind!r}; known: {', '.join(MODEL_KINDS)}")
    return kind

