"""A local Arize Phoenix server for `make run` and the tests.

The server runs from its own venv (`.venv-phoenix`): importing `phoenix.client` costs ~12 s
when the full server package shares the environment, ~0.6 s without it. Storage is SQLite
in the working directory; telemetry and external resources (CDN fonts, scripts) are off.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

from pipeline.errors import ConfigError, PhoenixUnavailableError, fail

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON_ENV = "COGNIVERSE_PHOENIX_PYTHON"
LOG_NAME = "phoenix-server.log"


def phoenix_python() -> Path:
    """The server venv's interpreter: $COGNIVERSE_PHOENIX_PYTHON or <repo>/.venv-phoenix."""
    configured = os.environ.get(PYTHON_ENV)
    path = Path(configured) if configured else REPO_ROOT / ".venv-phoenix" / "bin" / "python"
    if not path.is_file():
        where = f"${PYTHON_ENV}={configured}" if configured else f"the default {path}"
        raise ConfigError(
            f"Phoenix server interpreter not found ({where}). The server lives in its own venv: "
            f"run `make venv` (or `make run`, which creates it), or point ${PYTHON_ENV} at a Python "
            "that has `arize-phoenix` installed."
        )
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server binds: a port in TIME_WAIT from a previous run is free to reuse.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, ask for SIGTERM when the parent dies, so a
    killed test run does not leave a 600 MB server behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class LocalPhoenix:
    """`with LocalPhoenix(dir) as phoenix: phoenix.url` — or start()/stop()."""

    def __init__(
        self,
        working_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        grpc_port: int | None = None,
        startup_timeout_s: float = 90.0,
        python: str | os.PathLike[str] | None = None,
    ) -> None:
        self.working_dir = Path(working_dir).resolve()
        self.port = port
        self.grpc_port = grpc_port
        self.startup_timeout_s = startup_timeout_s
        self._python = Path(python) if python else None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.log_path = self.working_dir / LOG_NAME

    @property
    def url(self) -> str:
        if self.port is None:
            raise PhoenixUnavailableError("local Phoenix has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> str:
        """Start the server and wait until /healthz answers; returns the URL."""
        if self._process is not None:
            return self.url
        python = self._python or phoenix_python()
        self.working_dir.mkdir(parents=True, exist_ok=True)
        if self.port is not None and _port_in_use(self.port):
            raise ConfigError(f"port {self.port} on 127.0.0.1 is already in use: pick another --port")
        self.port = self.port or free_port()
        self.grpc_port = self.grpc_port or free_port()
        while self.grpc_port == self.port:
            self.grpc_port = free_port()

        # Inherited PHOENIX_* settings (a remote database URL, auth, a collector endpoint)
        # would change what this local server is: start from a clean slate.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
        env.update(
            PHOENIX_WORKING_DIR=str(self.working_dir),
            PHOENIX_HOST="127.0.0.1",
            PHOENIX_PORT=str(self.port),
            PHOENIX_GRPC_PORT=str(self.grpc_port),
            PHOENIX_TELEMETRY_ENABLED="false",
            PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",
        )
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file = log
        self._process = subprocess.Popen(
            [str(python), "-m", "phoenix.server.main", "serve"],
            env=env,
            cwd=self.working_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal Ctrl-C reaches us; we stop the server ourselves
            preexec_fn=_die_with_parent,
        )
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            code = self._process.poll()
            if code is not None:
                raise PhoenixUnavailableError(
                    f"local Phoenix exited with code {code} before it was ready.\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PhoenixUnavailableError(
                    f"local Phoenix at {self.url} not ready after {self.startup_timeout_s:.0f} s.\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"last {lines} lines of {self.log_path}:\n{tail}"

    def wait(self) -> int:
        """Block until the server exits (foreground mode); returns its exit code."""
        assert self._process is not None
        return self._process.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalPhoenix:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.local.phoenix_server",
        description="Run a local Phoenix server in the foreground (Ctrl-C stops it).",
    )
    parser.add_argument("--working-dir", required=True, help="where Phoenix keeps its SQLite db and log")
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--grpc-port", type=int, default=None, help="default: a free port")
    parser.add_argument("--startup-timeout", type=float, default=90.0)
    args = parser.parse_args(argv)

    server = LocalPhoenix(
        args.working_dir, port=args.port, grpc_port=args.grpc_port, startup_timeout_s=args.startup_timeout
    )

    def interrupt(signum: int, _frame: object) -> None:
        # Only raise here: stopping inside the handler would wait on the child while the
        # interrupted Popen.wait() still holds its lock, and never reap it.
        raise _Interrupted(signum)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        url = server.start()
        print(f"Phoenix is up at {url} (log: {server.log_path}); Ctrl-C to stop", flush=True)
        code = server.wait()
    except (ConfigError, PhoenixUnavailableError) as exc:
        return fail(exc)
    except _Interrupted as stop:
        code = 128 + stop.signum
    finally:
        server.stop()
    return code


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


if __name__ == "__main__":
    raise SystemExit(main())
