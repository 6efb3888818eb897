"""One container template as a local process: per-node filesystem remapping, environment,
command lookup, logs, and killing the process group on a deadline.

Path remapping (why and how). In a pod, `/tmp/outputs/improvement` is private to the pod; on one
machine, two parallel nodes writing it would overwrite each other. Each node therefore gets its
own `/tmp` (`<node dir>/fs/tmp`, also its `TMPDIR`), and every absolute path the template
declares (output parameter `valueFrom.path`, output artifact `path`, input artifact `path`) is
mapped into the node's directory, `<node dir>/fs/<path>`, and so is its parent directory unless
the parent is a top-level directory (declared `/mnt/out/x` maps `/mnt/out/x` and `/mnt/out`;
declared `/data` maps only `/data`). Volume mounts (emptyDir, configMap, secret) map their
mountPath the same way, into a directory the node gets for that volume. The command, args, env
values, script source and workingDir are rewritten: each occurrence of a mapped path as a whole
path (not followed by more name characters) is replaced by its node-local twin. That covers both
styles of writing outputs: a file path on the command line, and a directory given on the command
line (`--outputs-dir /tmp/outputs`) that the program fills. Paths the program computes at run
time without them appearing in its command line are not seen (except through `TMPDIR`): such a
program must take its output location as an argument (our pipeline CLI does). A path that
reaches the command through a parameter value is used as given: it names a file of this machine
(a test's directory, a local config), which the template's own text does not. A template
without `workingDir` runs in `<node dir>/fs`, the pod's root: the image's WORKDIR is not known
here and most images leave it at `/`.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

_NAME_CHAR = r"A-Za-z0-9_.\-"


class PathRemap:
    PRIVATE_TMP = "/tmp"

    def __init__(self, root: Path, locations: list[str], mounts: list[str] = ()) -> None:  # type: ignore[assignment]
        self.root = root
        mapped: set[str] = {posixpath.normpath(m) for m in mounts if m.startswith("/") and m != "/"}
        mapped.add(self.PRIVATE_TMP)
        for location in locations:
            if not location.startswith("/"):
                continue  # relative paths resolve against the working directory, unmapped
            path = posixpath.normpath(location)
            if path == "/":
                continue
            mapped.add(path)
            parent = posixpath.dirname(path)
            if parent.count("/") >= 2:  # /a/b or deeper: a directory of the template's own
                mapped.add(parent)
        self.prefixes = sorted(mapped, key=len, reverse=True)
        self._pattern = self._compile(self.prefixes)
        # After parameter substitution only the declared paths outside /tmp are rewritten: a /tmp
        # path that came in as a parameter value is the host's (see the module docstring).
        self._declared_pattern = self._compile(
            [p for p in self.prefixes if p != self.PRIVATE_TMP and not p.startswith(self.PRIVATE_TMP + "/")]
        )

    @staticmethod
    def _compile(prefixes: list[str]) -> re.Pattern[str] | None:
        if not prefixes:
            return None
        alternatives = "|".join(re.escape(p) for p in prefixes)
        return re.compile(rf"(?<![{_NAME_CHAR}/])({alternatives})(?![{_NAME_CHAR}])")

    @property
    def tmp(self) -> Path:
        return self.root / self.PRIVATE_TMP.lstrip("/")

    def host(self, container_path: str) -> Path:
        """Where a container path lives on this machine."""
        if not container_path.startswith("/"):
            return Path(container_path)
        path = posixpath.normpath(container_path)
        for prefix in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return self.root / path.lstrip("/")
        return Path(path)

    def rewrite(self, value: Any, *, declared_only: bool = False) -> Any:
        """Every mapped path in a YAML tree → its node-local twin; `declared_only` leaves /tmp
        alone (for text that parameter values have already been substituted into)."""
        pattern = self._declared_pattern if declared_only else self._pattern
        if pattern is None:
            return value
        if isinstance(value, str):
            return pattern.sub(lambda m: str(self.root / m.group(1).lstrip("/")), value)
        if isinstance(value, list):
            return [self.rewrite(item, declared_only=declared_only) for item in value]
        if isinstance(value, dict):
            return {key: self.rewrite(item, declared_only=declared_only) for key, item in value.items()}
        return value

    def prepare(self) -> None:
        """Create the parents a pod would already have (`/tmp`), not the template's own
        directories: a program that forgets `mkdir -p` fails here as it would in its image."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        for prefix in self.prefixes:
            parent = posixpath.dirname(prefix)
            if parent not in self.prefixes:
                (self.root / parent.lstrip("/")).mkdir(parents=True, exist_ok=True)


@dataclass
class ProcessResult:
    exit_code: int | None
    stdout: str
    outcome: str  # "exited" | "deadline" | "stopped"
    deadline_message: str = ""


def find_command(command: str, env: dict[str, str], cwd: str | None) -> str | None:
    if "/" in command:
        candidate = command if os.path.isabs(command) or cwd is None else os.path.join(cwd, command)
        return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    return shutil.which(command, path=env.get("PATH", os.defpath))


def run(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str | None,
    log_path: Path,
    deadline: tuple[float, str] | None,
    stop: threading.Event,
    kill_grace_s: float,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> ProcessResult:
    """Run to completion, a deadline (monotonic time, message) or a stop request; stdout and
    stderr go to the log as they arrive, stdout is also returned (Argo's `outputs.result`)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a deadline kills its children too
        )
        if on_start is not None:
            on_start(proc)
        lock = threading.Lock()
        stdout_chunks: list[bytes] = []
        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, log, lock, stdout_chunks), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, log, lock, None), daemon=True),
        ]
        for reader in readers:
            reader.start()
        outcome, message = "exited", ""
        while True:
            try:
                proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop.is_set():
                outcome = "stopped"
            elif deadline is not None and time.monotonic() >= deadline[0]:
                outcome, message = "deadline", deadline[1]
            if outcome != "exited":
                _kill_group(proc, kill_grace_s)
                break
        # The pod ends with its main process: background children it left behind go too (and
        # would otherwise hold the log pipes open).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for reader in readers:
            reader.join(timeout=5)
    stdout = b"".join(stdout_chunks).decode(errors="replace")
    return ProcessResult(exit_code=proc.returncode, stdout=stdout, outcome=outcome, deadline_message=message)


def _pump(stream: IO[bytes] | None, log: IO[bytes], lock: threading.Lock, keep: list[bytes] | None) -> None:
    if stream is None:
        return
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        with lock:
            log.write(chunk)
            log.flush()
        if keep is not None:
            keep.append(chunk)
    stream.close()


def _kill_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the process group, SIGKILL what is left after the grace period (as the kubelet)."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
