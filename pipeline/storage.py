"""Object storage for runs, artifacts and production pointers: one interface (`ObjectStore`),
two backends (`LocalStore` for `file://`, `S3Store` for S3).

Two write modes matter:
- `put_new`: create-only. Artifacts are immutable; a second write of the same key fails.
- `put_if`: compare-and-swap on a version token read by `get_versioned`. On S3 this is an
  ETag-conditional PUT (If-Match / If-None-Match). The local store has no ETag CAS:
  - create-only writes are one atomic `link()` of a fully written temp file onto the key,
    which fails if the key exists (no lock; readers never see a torn file);
  - a swap holds an OS lock (`flock`) on `<key>.lock` while it compares content hashes and
    renames atomically. The kernel drops the lock when its holder dies, so there is no
    "stale lock" to break; lock files are never deleted (deleting one that a waiter has open
    would let two writers lock two different files).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from pipeline.config import StorageConfig
from pipeline.errors import AlreadyExistsError, ConfigError, ConflictError, NotFoundError, StoreUnavailableError

T = TypeVar("T")
_STATUS = re.compile(r"status code: (\d{3})")


@dataclass(frozen=True)
class Versioned:
    data: bytes
    version: str  # opaque: an ETag on S3, a content hash locally


class ObjectStore(ABC):
    """Keys are '/'-separated relative paths (`tenants/acme/runs/...`). `ObjectStore(config)`
    opens the backend its URL names: `LocalStore` (file://) or `S3Store` (s3://)."""

    local_root: Path | None = None  # the directory behind the keys, on the local store

    def __new__(cls, config: StorageConfig, **kwargs: Any) -> "ObjectStore":
        if cls is ObjectStore:
            scheme = urlparse(config.url).scheme
            backends: dict[str, type[ObjectStore]] = {"file": LocalStore, "s3": S3Store}
            if scheme not in backends:
                raise ConfigError(f"storage url {config.url!r}: scheme must be file:// or s3://")
            cls = backends[scheme]
        return super().__new__(cls)

    def __init__(self, config: StorageConfig, *, attempts: int = 4, backoff_s: float = 0.5) -> None:
        self.config = config
        self.url = config.url
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s

    # ---------------------------------------------------------------- what a backend provides
    @abstractmethod
    def get_versioned(self, key: str) -> Versioned:
        """The object and its version token; NotFoundError when it does not exist."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """All keys under `prefix` (a folder-like prefix; "" = everything), sorted."""

    @abstractmethod
    def put_overwrite(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Unconditional write, atomic per object. Only for keys that are not yet committed
        (stage outputs before their result marker exists), and for pages rebuilt whole from
        what the store holds (the tenant's history page). `content_type` is what a browser is
        served from an S3 web endpoint (an HTML page without it is downloaded, not shown)."""

    @abstractmethod
    def put_if(self, key: str, data: bytes, expected_version: str | None) -> str:
        """Compare-and-swap. `expected_version=None` means "must not exist yet".
        Returns the new version; raises ConflictError (or AlreadyExistsError) when it lost."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    # ---------------------------------------------------------------- built on them
    def get(self, key: str) -> bytes:
        return self.get_versioned(key).data

    def get_json(self, key: str) -> Any:
        data = self.get(key)
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{self.describe(key)} is not valid JSON: {exc}") from exc

    def put_new(self, key: str, data: bytes) -> None:
        """Create-only write: raises AlreadyExistsError if the key exists."""
        self.put_if(key, data, expected_version=None)

    def put_json_new(self, key: str, value: Any) -> None:
        self.put_new(key, _dumps(value))

    def describe(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key}"

    def local_path(self, key: str) -> Path | None:
        """The file behind a key on the local store (for people to open), else None."""
        return None if self.local_root is None else self.local_root / _check_key(key)

    def _exists_error(self, key: str) -> AlreadyExistsError:
        return AlreadyExistsError(f"{self.describe(key)} already exists (artifacts are immutable)")

    def _lost_error(self, key: str) -> ConflictError:
        return ConflictError(f"{self.describe(key)} changed since it was read: lost a concurrent update")


class LocalStore(ObjectStore):
    """`file://` keys as files under one directory; CAS by hard link and flock (module docstring)."""

    def __init__(self, config: StorageConfig, *, attempts: int = 4, backoff_s: float = 0.5) -> None:
        super().__init__(config, attempts=attempts, backoff_s=backoff_s)
        parsed = urlparse(config.url)
        # file://relative/dir is accepted for convenience: netloc + path, relative to cwd
        raw = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
        self.local_root = Path(raw).resolve()
        self.local_root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.local_root / _check_key(key)  # type: ignore[operator]

    def get_versioned(self, key: str) -> Versioned:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"{self.describe(_check_key(key))} does not exist") from exc
        return Versioned(data, _hash(data))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        prefix = _check_key(prefix) if prefix.strip("/") else ""  # no `..` escaping the root
        base = self.local_root / prefix  # type: ignore[operator]
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.local_root)).replace(os.sep, "/")  # type: ignore[arg-type]
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-") and not p.name.endswith(".lock")
        )

    def put_overwrite(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, data)

    def put_if(self, key: str, data: bytes, expected_version: str | None) -> str:
        key = _check_key(key)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if expected_version is None:
            try:
                created = _atomic_create(path, data)
            except FileExistsError:
                raise self._exists_error(key) from None
            if not created:
                with _flock(path.with_name(path.name + ".lock"), self.describe(key)):
                    if path.is_file():
                        raise self._exists_error(key)
                    _atomic_write(path, data)
            return _hash(data)
        with _flock(path.with_name(path.name + ".lock"), self.describe(key)):
            try:
                current = _hash(path.read_bytes())
            except FileNotFoundError:
                current = None
            if current != expected_version:
                raise self._lost_error(key)
            _atomic_write(path, data)
        return _hash(data)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store(ObjectStore):
    """`s3://bucket/prefix` through obstore; CAS by ETag-conditional PUT (If-Match / If-None-Match)."""

    def __init__(self, config: StorageConfig, *, attempts: int = 4, backoff_s: float = 0.5) -> None:
        super().__init__(config, attempts=attempts, backoff_s=backoff_s)
        if not urlparse(config.url).netloc:
            raise ConfigError(f"storage url {config.url!r}: missing bucket (s3://bucket/prefix)")
        self._store = self._open(config)

    def _open(self, config: StorageConfig) -> Any:
        import obstore.exceptions as oe
        from obstore.store import from_url

        kwargs: dict[str, Any] = {"region": config.region}
        if config.endpoint:
            kwargs["endpoint"] = config.endpoint
        key, secret = os.environ.get(config.access_key_env), os.environ.get(config.secret_key_env)
        if key and secret:
            kwargs["access_key_id"], kwargs["secret_access_key"] = key, secret
        client_options = {"allow_http": True} if config.allow_http or (config.endpoint or "").startswith("http://") else {}
        # obstore owns the retries: it knows which failures are safe to repeat (connection
        # errors, 5xx; timeouts only for reads). Its default of 10 retries over up to 3 min made a
        # dead endpoint take ~1.8 s per attempt even when refused; `attempts` bounds it instead.
        retry_config = {
            "max_retries": self._attempts - 1,
            "backoff": {
                "init_backoff": timedelta(seconds=self._backoff_s),
                "max_backoff": timedelta(seconds=max(self._backoff_s, 15.0)),
                "base": 2,
            },
        }
        try:
            return from_url(config.url, client_options=client_options, retry_config=retry_config, **kwargs)
        except (ValueError, TypeError, oe.BaseError) as exc:
            raise ConfigError(f"storage url {config.url!r}: {exc}") from exc

    def get_versioned(self, key: str) -> Versioned:
        import obstore

        key = _check_key(key)

        def read() -> Versioned:
            result = obstore.get(self._store, key)
            etag = result.meta.get("e_tag") or ""
            return Versioned(bytes(result.bytes()), etag)

        return self._call(read, key)

    def exists(self, key: str) -> bool:
        import obstore

        key = _check_key(key)
        try:
            self._call(lambda: obstore.head(self._store, key), key)
            return True
        except NotFoundError:
            return False

    def list(self, prefix: str) -> list[str]:
        import obstore

        prefix = _check_key(prefix) if prefix.strip("/") else ""  # no `..` escaping the root

        def do_list() -> list[str]:
            keys: list[str] = []
            for batch in obstore.list(self._store, prefix=prefix + "/" if prefix else None):
                keys.extend(item["path"] for item in batch)
            return sorted(keys)

        return self._call(do_list, prefix)

    def put_overwrite(self, key: str, data: bytes, content_type: str | None = None) -> None:
        import obstore

        key = _check_key(key)
        attributes = {"Content-Type": content_type} if content_type else None
        self._call(lambda: obstore.put(self._store, key, data, attributes=attributes), key)

    def put_if(self, key: str, data: bytes, expected_version: str | None) -> str:
        import obstore
        import obstore.exceptions as oe

        key = _check_key(key)

        def write() -> str:
            try:
                if expected_version is None:
                    result = obstore.put(self._store, key, data, mode="create")
                else:
                    result = obstore.put(self._store, key, data, mode={"e_tag": expected_version})
            except oe.AlreadyExistsError as exc:
                raise self._exists_error(key) from exc
            except oe.PreconditionError as exc:
                raise self._lost_error(key) from exc
            return result.get("e_tag") or ""

        return self._call(write, key)

    def delete(self, key: str) -> None:
        import obstore

        key = _check_key(key)
        self._call(lambda: obstore.delete(self._store, key), key)

    def _call(self, fn: Callable[[], T], key: str) -> T:
        """Run one obstore call (it retries transient failures itself) and map its errors."""
        import obstore.exceptions as oe

        try:
            return fn()
        except (FileNotFoundError, oe.NotFoundError) as exc:  # obstore 0.12 raises the builtin
            raise NotFoundError(f"{self.describe(key)} does not exist") from exc
        except (oe.PermissionDeniedError, oe.UnauthenticatedError) as exc:
            raise ConfigError(f"object store refused access to {self.describe(key)}: {_first_line(exc)}") from exc
        except oe.BaseError as exc:
            status = _http_status(exc)
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                # A request the server will never accept (no such bucket, bad signature on a
                # list, ...): a configuration problem, not an outage.
                raise ConfigError(f"object store {self.url} rejected the request for {key} ({status}): {_first_line(exc)}") from exc
            raise StoreUnavailableError(
                f"object store {self.url} unavailable after {self._attempts} attempts ({key}): {_first_line(exc)}"
            ) from exc


def open_store(config: StorageConfig, attempts: int = 4, backoff_s: float = 0.5) -> ObjectStore:
    return ObjectStore(config, attempts=attempts, backoff_s=backoff_s)


def _dumps(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode()


def _first_line(exc: BaseException) -> str:
    # obstore appends a multi-line Rust debug dump; the first line says what happened.
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _http_status(exc: BaseException) -> int | None:
    match = _STATUS.search(str(exc))
    return int(match.group(1)) if match else None


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_key(key: str) -> str:
    key = key.strip("/")
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ConfigError(f"invalid object key {key!r}")
    return key


def _flushed_temp(path: Path, data: bytes) -> Path:
    """A temp file beside `path` holding `data`, flushed to disk: what a publish starts from."""
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _atomic_write(path: Path, data: bytes) -> None:
    """Readers see the old or the new content, never a torn file, even after a crash: the
    data is flushed to disk before the rename publishes it."""
    tmp = _flushed_temp(path, data)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_create(path: Path, data: bytes) -> bool:
    """Publish `data` at `path` only if nothing is there: a hard link of a flushed temp file is
    atomic and fails with EEXIST. Returns False where the filesystem has no hard links (the
    caller then creates under the lock); raises FileExistsError when the key exists."""
    tmp = _flushed_temp(path, data)
    try:
        try:
            os.link(tmp, path)  # FileExistsError when the key exists: the caller's answer
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                return False
            raise
        return True
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def _flock(lock: Path, what: str, timeout_s: float = 30.0) -> Iterator[None]:
    """Exclusive OS lock on `lock` (created if missing, never deleted): the local stand-in for a
    conditional PUT, across threads and processes. A holder that dies releases it."""
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    # Held this long by a live writer (a dead one would have released it).
                    raise ConflictError(f"{what} is locked by another writer ({lock}) for over {timeout_s:.0f} s") from None
                time.sleep(0.002)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
