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
