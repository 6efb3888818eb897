"""While pods run, say which and for how long: a line every `every_s` seconds (15 by default).

A node's line appears only when it ends; a stage that trains for two minutes would otherwise
leave the console silent that long. Ticked from the executor's main loop, so it needs no thread.
"""

from __future__ import annotations

import time
from typing import Callable

from pipeline.argo.status import POD, RUNNING, WorkflowStatus, utcnow

DEFAULT_EVERY_S = 15.0


class Heartbeat:
    def __init__(self, status: WorkflowStatus, say: Callable[[str], None], every_s: float = DEFAULT_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.status = status
        self.say = say
        self.every_s = every_s
        self.clock = clock
        self.last = clock()

    def tick(self) -> None:
        if self.every_s <= 0 or self.clock() - self.last < self.every_s:
            return
        self.last = self.clock()
        line = running_line(self.status)
        if line:
            self.say(line)


def running_line(status: WorkflowStatus) -> str | None:
    """`◷ running: train(0) 1m05s, evaluate 12s` — the pods running now, longest first; None
    when none is (a wait for a lock or a retry's backoff has its own line)."""
    now = utcnow()
    running = [node for node in status.snapshot() if node.type == POD and node.phase == RUNNING]
    if not running:
        return None
    running.sort(key=lambda node: node.started_at)
    parts = [f"{status.label(node)} {_duration((now - node.started_at).total_seconds())}" for node in running]
    return f"◷ running: {', '.join(parts)}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m{seconds % 60:02d}s"
