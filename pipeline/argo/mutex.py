"""Local stand-in for Argo's `synchronization.mutexes`: an exclusive `flock` on one file per
mutex under the state directory (`<state dir>/locks/<namespace>/<name>.lock`). Two local runs,
or two nodes of one run, holding the same mutex never overlap; a lock dies with its process, so
a crashed run never leaves a mutex held."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import IO, Callable

from pipeline.argo.runtime import SAFE_NAME, NodeFailure


def acquire(
    lock_dir: Path,
    wanted: list[tuple[str, str]],
    *,
    stop: threading.Event,
    holder: str,
    on_wait: Callable[[str], None],
) -> list[IO[str]]:
    """Take every (namespace, name) mutex, in sorted order so two takers cannot deadlock;
    wait while another holder has one. Raises NodeFailure when stopped while waiting."""
    handles: list[IO[str]] = []
    try:
        for namespace, name in sorted(set(wanted)):
            path = lock_dir / SAFE_NAME.sub("_", namespace) / f"{SAFE_NAME.sub('_', name)}.lock"
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")
            handles.append(handle)
            announced = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not announced:
                        on_wait(f"{namespace}/{name}")
                        announced = True
                    if stop.wait(0.1):
                        raise NodeFailure(f"Stopped while waiting for mutex {namespace}/{name}") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"{holder} pid={os.getpid()}\n")  # who holds it, for a curious operator
            handle.flush()
    except BaseException:
        release(handles)
        raise
    return handles


def release(handles: list[IO[str]]) -> None:
    for handle in reversed(handles):
        try:
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()
