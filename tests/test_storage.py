"""ObjectStore on both backends (local files and a real SeaweedFS S3 server)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.concurrency import race, racers

from pipeline.config import StorageConfig
from pipeline.errors import AlreadyExistsError, ConfigError, ConflictError, NotFoundError, StoreUnavailableError
from pipeline.storage import ObjectStore, open_store
from tests.fixtures.s3 import free_port


def test_put_new_is_create_only(store: ObjectStore) -> None:
    store.put_new("runs/r1/program.json", b"first")
    with pytest.raises(AlreadyExistsError):
        store.put_new("runs/r1/program.json", b"second")
    assert store.get("runs/r1/program.json") == b"first"
    assert store.exists("runs/r1/program.json")


def test_json_round_trip(store: ObjectStore) -> None:
    store.put_json_new("a/meta.json", {"b": [1, 2], "a": "x"})
    assert store.get_json("a/meta.json") == {"a": "x", "b": [1, 2]}
    store.put_new("a/bad.json", b"{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        store.get_json("a/bad.json")


def test_missing_key(store: ObjectStore) -> None:
    with pytest.raises(NotFoundError):
        store.get("no/such/key.json")
    with pytest.raises(NotFoundError):
        store.get_versioned("no/such/key.json")
    assert not store.exists("no/such/key.json")
    assert store.list("no/such") == []


def test_list_under_prefix(store: ObjectStore) -> None:
    for key in ("t/a/1.json", "t/a/sub/2.json", "t/ab/3.json", "t/b/4.json", "u/5.json"):
        store.put_new(key, b"x")
    assert store.list("t/a") == ["t/a/1.json", "t/a/sub/2.json"]  # folder-like: not t/ab
    assert store.list("t/a/") == ["t/a/1.json", "t/a/sub/2.json"]
    assert store.list("t") == ["t/a/1.json", "t/a/sub/2.json", "t/ab/3.json", "t/b/4.json"]
    assert store.list("") == ["t/a/1.json", "t/a/sub/2.json", "t/ab/3.json", "t/b/4.json", "u/5.json"]


def test_overwrite_and_delete(store: ObjectStore) -> None:
    store.put_overwrite("o/x", b"1")
    store.put_overwrite("o/x", b"2")
    assert store.get("o/x") == b"2"
    store.delete("o/x")
    assert not store.exists("o/x")
    store.delete("o/x")  # deleting a missing key is not an error
    assert store.list("o") == []  # no temp or lock files show up


def test_put_if_compare_and_swap(store: ObjectStore) -> None:
    first = store.put_if("p/production.json", b"v1", expected_version=None)
    read = store.get_versioned("p/production.json")
    assert read.data == b"v1" and read.version == first
    second = store.put_if("p/production.json", b"v2", expected_version=read.version)
    assert second != first
    with pytest.raises(ConflictError):  # stale version
        store.put_if("p/production.json", b"v3", expected_version=read.version)
    with pytest.raises(AlreadyExistsError):  # "must not exist" on an existing key
        store.put_if("p/production.json", b"v3", expected_version=None)
    with pytest.raises(ConflictError):  # a version of a key that does not exist
        store.put_if("p/other.json", b"v3", expected_version=read.version)
    assert store.get_versioned("p/production.json").version == second
    assert store.get("p/production.json") == b"v2"


def test_put_if_two_writers_same_version(store: ObjectStore) -> None:
    store.put_new("cas/key", b"base")
    version = store.get_versioned("cas/key").version
    results = race(2, lambda i: store.put_if("cas/key", f"writer-{i}".encode(), expected_version=version))
    winners = [i for i, r in enumerate(results) if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert len(losers) == 1 and isinstance(losers[0], ConflictError), results
    assert store.get("cas/key") == f"writer-{winners[0]}".encode()


def test_put_if_many_writers_same_version(store: ObjectStore) -> None:
    store.put_new("cas/many", b"base")
    version = store.get_versioned("cas/many").version
    results = race(racers(store), lambda i: store.put_if("cas/many", f"writer-{i}".encode(), expected_version=version))
    winners = [i for i, r in enumerate(results) if isinstance(r, str)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConflictError) for r in results if not isinstance(r, str)), results
    assert store.get("cas/many") == f"writer-{winners[0]}".encode()


def test_create_race_one_winner(store: ObjectStore) -> None:
    results = race(racers(store), lambda i: store.put_new("race/artifact.json", f"writer-{i}".encode()))
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1, results
    assert all(isinstance(r, AlreadyExistsError) for r in results if r is not None), results
    assert store.get("race/artifact.json") == f"writer-{winners[0]}".encode()


@pytest.mark.parametrize("key", ["../x", "a/../../x", "", "/", "a//b", "./a", "a\\b"])
def test_invalid_keys_rejected(store: ObjectStore, key: str) -> None:
    for op in (
        lambda: store.get(key),
        lambda: store.exists(key),
        lambda: store.put_new(key, b"x"),
        lambda: store.put_overwrite(key, b"x"),
        lambda: store.put_if(key, b"x", None),
        lambda: store.delete(key),
    ):
        with pytest.raises(ConfigError):
            op()


def test_list_prefix_cannot_escape(store: ObjectStore) -> None:
    with pytest.raises(ConfigError):
        store.list("../")
    with pytest.raises(ConfigError):
        store.list("a/../..")


def test_local_path_only_for_files(store: ObjectStore) -> None:
    path = store.local_path("a/b.json")
    if store.url.startswith("file://"):
        assert path is not None and path == store.local_root / "a" / "b.json"
    else:
        assert path is None


def test_describe_names_the_object(store: ObjectStore) -> None:
    assert store.describe("a/b.json") == store.url.rstrip("/") + "/a/b.json"


def test_unreachable_s3_fails_fast() -> None:
    config = StorageConfig(url="s3://bucket/prefix", endpoint=f"http://127.0.0.1:{free_port()}", allow_http=True)
    store = open_store(config, attempts=2, backoff_s=0.05)
    for op in (lambda: store.get("a"), lambda: store.put_new("a", b"x"), lambda: store.list("a")):
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="after 2 attempts"):
            op()
        assert time.monotonic() - started < 2.0


def test_s3_unknown_bucket_is_a_config_error(s3_storage_config: Callable[..., StorageConfig]) -> None:
    config = s3_storage_config().model_copy(update={"url": "s3://no-such-bucket-here/p"})
    store = open_store(config, attempts=2, backoff_s=0.05)
    with pytest.raises(ConfigError, match="rejected"):
        store.list("x")


def test_s3_wrong_credentials_are_a_config_error(
    s3_storage_config: Callable[..., StorageConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_SECRET", "not-the-secret")
    config = s3_storage_config().model_copy(update={"secret_key_env": "WRONG_SECRET"})
    store = open_store(config, attempts=2, backoff_s=0.05)
    with pytest.raises(ConfigError):
        store.put_new("x", b"1")
    with pytest.raises(ConfigError):
        store.list("x")


def test_bad_urls() -> None:
    with pytest.raises(ConfigError):
        ObjectStore(StorageConfig(url="ftp://host/x"))
    with pytest.raises(ConfigError):
        ObjectStore(StorageConfig(url="s3:///no-bucket"))


_CAS_WRITER = """
import sys, time
from pathlib import Path
from pipeline.config import StorageConfig
from pipeline.storage import ObjectStore
url, version, name, go = sys.argv[1:5]
store = ObjectStore(StorageConfig(url=url))
Path(go).with_name("ready-" + name).touch()
while not Path(go).exists():  # start together
    time.sleep(0.005)
try:
    store.put_if("cas/key", name.encode(), expected_version=version)
    print("won")
except Exception as exc:
    print(type(exc).__name__)
"""


def test_local_store_separate_processes_share_cas(tmp_path: Path) -> None:
    """The local CAS is a lock file + rename: it must hold across processes, not just threads."""
    config = StorageConfig(url=f"file://{tmp_path / 'store'}")
    store = ObjectStore(config)
    store.put_new("cas/key", b"base")
    version = store.get_versioned("cas/key").version
    go = tmp_path / "go"
    procs = {
        f"proc-{i}": subprocess.Popen(
            [sys.executable, "-c", _CAS_WRITER, config.url, version, f"proc-{i}", str(go)],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
        )
        for i in range(4)
    }
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outcomes = {name: p.communicate(timeout=60)[0].strip() for name, p in procs.items()}
    winners = [name for name, out in outcomes.items() if out == "won"]
    assert len(winners) == 1, outcomes
    assert sorted(out for out in outcomes.values() if out != "won") == ["ConflictError"] * 3, outcomes
    assert store.get("cas/key") == winners[0].encode()


def test_local_cas_never_breaks_a_live_writers_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that holds the lock for long (a slow disk, a loaded node) is not "stale": a
    second process must wait for it and then lose the compare, never break in and also win."""
    import pipeline.storage as storage

    config = StorageConfig(url=f"file://{tmp_path / 'store'}")
    store = ObjectStore(config)
    store.put_new("cas/key", b"base")
    version = store.get_versioned("cas/key").version
    lock = tmp_path / "store" / "cas" / "key.lock"
    go = tmp_path / "go"
    go.touch()
    real_write = storage._atomic_write
    other: list[subprocess.Popen[str]] = []

    def slow_write(path: Path, data: bytes) -> None:
        if not other:  # the first writer, holding the lock: look old, let the other one try
            old = time.time() - 86400
            os.utime(lock, (old, old))
            other.append(subprocess.Popen(
                [sys.executable, "-c", _CAS_WRITER, config.url, version, "other", str(go)],
                stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
            ))
            deadline = time.monotonic() + 30
            while not (tmp_path / "ready-other").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            try:
                other[0].wait(timeout=1.5)  # it may only finish by breaking in
            except subprocess.TimeoutExpired:
                pass
        real_write(path, data)

    monkeypatch.setattr(storage, "_atomic_write", slow_write)
    store.put_if("cas/key", b"first", expected_version=version)
    assert other[0].communicate(timeout=60)[0].strip() == "ConflictError"
    assert store.get("cas/key") == b"first"
