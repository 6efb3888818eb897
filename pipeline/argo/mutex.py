"""Local stand-in for Argo's `synchronization.mutexes` and `semaphores`: exclusive `flock`s on
files under the state directory. A mutex is one file (`<state dir>/locks/<namespace>/<name>.lock`);
a semaphore of limit N is N slot files (`<namespace>/semaphore-<configmap>-<key>.<i>.lock`), and a
holder takes any free one. Two local runs, or two nodes of one run, never hold more than the
limit at once; a lock dies with its process, so a crashed run never leaves one held. Locks are
taken in sorted order (mutexes, then semaphores), so two takers cannot deadlock."""

from __future__ import annotations

import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from pipeline.argo.runtime import SAFE_NAME, NodeFailure


@dataclass(frozen=True)
class Lock:
    namespace: str
    name: str  # a mutex name, or `semaphore-<configmap>-<key>`
    limit: int = 1  # slots: 1 for a mutex
    label: str = ""  # how messages name it

    def paths(self, lock_dir: Path) -> list[Path]:
        base = lock_dir / SAFE_NAME.sub("_", self.namespace)
        stem = SAFE_NAME.sub("_", self.name)
        if self.limit == 1 and not self.name.startswith("semaphore-"):
            return [base / f"{stem}.lock"]
        return [base / f"{stem}.{slot}.lock" for slot in range(self.limit)]


def acquire(
    lock_dir: Path,
    wanted: list[Lock],
    *,
    stop: threading.Event,
    holder: str,
    on_wait: Callable[[str], None],
) -> list[IO[str]]:
    """Take every lock (one slot of each semaphore); wait while others hold them. Raises
    NodeFailure when stopped while waiting."""
    handles: list[IO[str]] = []
    try:
        for lock in sorted(set(wanted), key=lambda l: (l.name.startswith("semaphore-"), l.namespace, l.name)):
            paths = lock.paths(lock_dir)
            paths[0].parent.mkdir(parents=True, exist_ok=True)
            announced = False
            while True:
                taken = _take_any(paths)
                if taken is not None:
                    handles.append(taken)
                    break
                if not announced:
                    on_wait(lock.label or f"{lock.namespace}/{lock.name}")
                    announced = True
                if stop.wait(0.1):
                    raise NodeFailure(f"Stopped while waiting for {lock.label or lock.namespace + '/' + lock.name}") from None
            taken.seek(0)
            taken.truncate()
            taken.write(f"{holder} pid={os.getpid()}\n")  # who holds it, for a curious operator
            taken.flush()
    except BaseException:
        release(handles)
        raise
    return handles


def _take_any(paths: list[Path]) -> IO[str] | None:
    for path in paths:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            handle.close()
    return None


def release(handles: list[IO[str]]) -> None:
    for handle in reversed(handles):
        try:
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()
