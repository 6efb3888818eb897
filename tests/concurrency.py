"""Race helpers shared by the storage and promotion tests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pipeline.storage import ObjectStore


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(0..n-1) in n threads released together; returns each result or exception."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:  # collected for the assertions
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def racers(store: ObjectStore) -> int:
    # SeaweedFS serialises concurrent conditional writes to one key in ~1 s steps.
    return 8 if store.local_root is not None else 4


# ---------------------------------------------------------------- processes
LOAD_TENANT, LOAD_TARGET = "acme", "routing"


def promotion_worker(
    config_json: str, index: int, rounds: int, rollback_rounds: frozenset[int], barrier: Any, results: Any,
) -> None:
    """One promoter process for `promotion_load`: each round it writes a fresh artifact, reads
    production, waits until every process has read it, then promotes against it (or, as
    process 0 in a rollback round, rolls back). Outcomes go to `results`."""
    import os
    import time

    from pipeline import promotion
    from pipeline.config import StorageConfig
    from pipeline.errors import ConflictError, NotFoundError
    from pipeline.layout import production_key, stage_prefix

    store = ObjectStore(StorageConfig.model_validate_json(config_json), attempts=3, backoff_s=0.05)
    lock = store.local_path(production_key(LOAD_TENANT, LOAD_TARGET) + ".lock")
    for r in range(rounds):
        run_id = f"load-r{r}-p{index}"
        prefix = f"{stage_prefix(LOAD_TENANT, run_id, 'train')}/{LOAD_TARGET}"
        store.put_json_new(f"{prefix}/program.json", {"run": run_id})
        barrier.wait()  # the previous round is over: nobody writes production now
        seen = promotion.current(store, LOAD_TENANT, LOAD_TARGET)
        if index == 0 and lock is not None:
            # What a writer killed while holding the lock leaves: an old lock file.
            lock.touch()
            old = time.time() - 86400
            os.utime(lock, (old, old))
        barrier.wait()  # everyone has read the same production
        try:
            if index == 0 and r in rollback_rounds:
                won = promotion.rollback(store, LOAD_TENANT, LOAD_TARGET)
            else:
                won = promotion.promote(
                    store, LOAD_TENANT, LOAD_TARGET, artifact_prefix=prefix, run_id=run_id, metrics={},
                    reason="load", expected=seen,
                )
            results.put((r, index, "won", won.sequence, won.run_id, won.promoted_at))
        except (ConflictError, NotFoundError) as exc:
            results.put((r, index, type(exc).__name__, None, None, None))
        except Exception as exc:  # reported, and failed on, by the test
            results.put((r, index, f"{type(exc).__name__}: {exc}", None, None, None))
