"""Production pointers on both backends: promote, rollback, history, races, crash gaps."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.concurrency import race, racers

from pipeline import promotion
from pipeline.errors import (
    ConfigError,
    ConflictError,
    InvalidTenantError,
    NotFoundError,
    StoreUnavailableError,
)
from pipeline.layout import history_key, module_prefix, production_key, stage_prefix
from pipeline.promotion import ProductionPointer, current, history, promote, rollback
from pipeline.storage import ObjectStore

TENANT, TARGET = "acme", "routing"


def artifact(store: ObjectStore, run_id: str, tenant: str = TENANT) -> str:
    """Write an immutable run artifact (program.json + metadata.json) and return its prefix."""
    prefix = f"{stage_prefix(tenant, run_id, 'train')}/{TARGET}"
    store.put_json_new(f"{prefix}/program.json", {"run": run_id})
    store.put_json_new(f"{prefix}/metadata.json", {"run": run_id})
    return prefix


def do_promote(store: ObjectStore, run_id: str, expected: Any = "read", **kw: Any) -> ProductionPointer:
    return promote(
        store, TENANT, TARGET,
        artifact_prefix=kw.pop("artifact_prefix", None) or artifact(store, run_id),
        run_id=run_id, metrics={"accuracy": 0.5}, reason=f"promote {run_id}", expected=expected, **kw,
    )


def history_files(store: ObjectStore) -> list[str]:
    return store.list(f"{module_prefix(TENANT, TARGET)}/history")


def test_promote_current_history(store: ObjectStore) -> None:
    assert current(store, TENANT, TARGET) is None
    assert history(store, TENANT, TARGET) == []

    first = do_promote(store, "run-1", expected=None)
    assert first.sequence == 1 and first.previous == [] and first.run_id == "run-1"
    assert first.artifact_prefix == f"{stage_prefix(TENANT, 'run-1', 'train')}/{TARGET}"
    assert first.promoted_at.endswith("+00:00")
    assert current(store, TENANT, TARGET) == first

    second = do_promote(store, "run-2", expected=first)
    assert second.sequence == 2
    assert [p["sequence"] for p in second.previous] == [1]
    assert second.previous[0]["artifact_prefix"] == first.artifact_prefix
    assert current(store, TENANT, TARGET) == second
    assert history(store, TENANT, TARGET) == [first, second]

    # history files are exact copies of what production held
    assert history_files(store) == [history_key(TENANT, TARGET, 1), history_key(TENANT, TARGET, 2)]
    assert store.get(history_key(TENANT, TARGET, 2)) == store.get(production_key(TENANT, TARGET))
    assert json.loads(store.get(production_key(TENANT, TARGET)))["metrics"] == {"accuracy": 0.5}

    third = do_promote(store, "run-3")  # expected="read": whatever is there now
    assert third.sequence == 3 and [p["sequence"] for p in third.previous] == [2, 1]


def test_targets_and_tenants_are_independent(store: ObjectStore) -> None:
    a = do_promote(store, "run-1")
    other = promote(
        store, "globex", TARGET, artifact_prefix=artifact(store, "run-1", tenant="globex"),
        run_id="run-1", metrics={}, reason="", expected=None,
    )
    assert a.sequence == other.sequence == 1
    assert current(store, "globex", TARGET) == other
    assert current(store, TENANT, "modality-video") is None


def test_promote_requires_program_json(store: ObjectStore) -> None:
    missing = f"{stage_prefix(TENANT, 'run-9', 'train')}/{TARGET}"
    store.put_json_new(f"{missing}/metadata.json", {})  # metadata alone is not an artifact
    with pytest.raises(NotFoundError, match="program.json"):
        do_promote(store, "run-9", artifact_prefix=missing)
    assert current(store, TENANT, TARGET) is None
    assert store.list(module_prefix(TENANT, TARGET)) == []


def test_promote_checks_expected(store: ObjectStore) -> None:
    first = do_promote(store, "run-1", expected=None)
    with pytest.raises(ConflictError, match="expected empty"):
        do_promote(store, "run-2", expected=None)
    second = do_promote(store, "run-3", expected=first)
    with pytest.raises(ConflictError, match="expected at sequence 1"):
        do_promote(store, "run-4", expected=first)  # stale
    assert current(store, TENANT, TARGET) == second
    assert len(history_files(store)) == 2
    with pytest.raises(ConfigError):
        do_promote(store, "run-5", expected="latest")


def test_artifact_must_belong_to_the_tenant(store: ObjectStore) -> None:
    foreign = artifact(store, "run-1", tenant="globex")
    with pytest.raises(ConfigError, match="under tenants/acme/"):
        do_promote(store, "run-1", artifact_prefix=foreign)
    for bad in ("tenants/acme/../globex/runs/run-1", "tenants/acme", "/tmp/x", "tenants/acme/runs//x"):
        with pytest.raises(ConfigError):
            do_promote(store, "run-1", artifact_prefix=bad)
    assert current(store, TENANT, TARGET) is None


def test_rollback_restores_previous_as_new_sequence(store: ObjectStore) -> None:
    a = do_promote(store, "run-a", expected=None)
    b = do_promote(store, "run-b")
    c = do_promote(store, "run-c")
    before = {k: store.get(k) for k in history_files(store)}

    back = rollback(store, TENANT, TARGET)
    assert back.sequence == 4 and back.action == "rollback" and back.restored_sequence == 2
    assert (back.artifact_prefix, back.run_id, back.metrics) == (b.artifact_prefix, b.run_id, b.metrics)
    assert current(store, TENANT, TARGET) == back
    assert "from sequence 3 to sequence 2" in back.reason

    # a second rollback goes one version further back, not forth to c
    back2 = rollback(store, TENANT, TARGET)
    assert back2.sequence == 5 and back2.restored_sequence == 1 and back2.artifact_prefix == a.artifact_prefix
    with pytest.raises(NotFoundError, match="no previous version"):
        rollback(store, TENANT, TARGET)

    # history is append-only: the old records are untouched, every state is there
    assert {k: store.get(k) for k in before} == before
    assert [p.sequence for p in history(store, TENANT, TARGET)] == [1, 2, 3, 4, 5]
    assert [p.artifact_prefix for p in history(store, TENANT, TARGET)] == [
        a.artifact_prefix, b.artifact_prefix, c.artifact_prefix, b.artifact_prefix, a.artifact_prefix,
    ]
    # a promotion after rollbacks continues the sequence
    assert do_promote(store, "run-d").sequence == 6


def test_rollback_to_sequence(store: ObjectStore) -> None:
    a = do_promote(store, "run-a", expected=None)
    do_promote(store, "run-b")
    do_promote(store, "run-c")
    back = rollback(store, TENANT, TARGET, to_sequence=1)
    assert back.sequence == 4 and back.restored_sequence == 1 and back.artifact_prefix == a.artifact_prefix
    with pytest.raises(NotFoundError):
        rollback(store, TENANT, TARGET, to_sequence=99)
    with pytest.raises(ConfigError):
        rollback(store, TENANT, TARGET, to_sequence=4)  # already serving it
    with pytest.raises(ConfigError):
        rollback(store, TENANT, TARGET, to_sequence=0)
    assert current(store, TENANT, TARGET) == back


def test_rollback_with_nothing(store: ObjectStore) -> None:
    with pytest.raises(NotFoundError, match="nothing in production"):
        rollback(store, TENANT, TARGET)
    do_promote(store, "run-a", expected=None)
    with pytest.raises(NotFoundError, match="no previous version"):
        rollback(store, TENANT, TARGET)
    assert current(store, TENANT, TARGET).sequence == 1  # type: ignore[union-attr]


def test_rollback_refuses_a_deleted_artifact(store: ObjectStore) -> None:
    a = do_promote(store, "run-a", expected=None)
    b = do_promote(store, "run-b")
    store.delete(f"{a.artifact_prefix}/program.json")
    with pytest.raises(NotFoundError, match="is gone"):
        rollback(store, TENANT, TARGET)
    assert current(store, TENANT, TARGET) == b


def test_previous_is_capped(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(promotion, "MAX_PREVIOUS", 3)
    for i in range(6):
        last = do_promote(store, f"run-{i}")
    assert [p["sequence"] for p in last.previous] == [5, 4, 3]
    assert len(history(store, TENANT, TARGET)) == 6


def test_concurrent_promotions_one_winner(store: ObjectStore) -> None:
    base = do_promote(store, "run-base", expected=None)
    n = racers(store)
    prefixes = [artifact(store, f"run-{i}") for i in range(n)]
    results = race(n, lambda i: promote(
        store, TENANT, TARGET, artifact_prefix=prefixes[i], run_id=f"run-{i}",
        metrics={"i": i}, reason="race", expected=base,
    ))
    winners = [r for r in results if isinstance(r, ProductionPointer)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConflictError) for r in results if r is not winners[0]), results
    winner = winners[0]
    assert current(store, TENANT, TARGET) == winner and winner.sequence == 2
    # exactly one new history record, the winner's: losers wrote nothing
    assert history_files(store) == [history_key(TENANT, TARGET, 1), history_key(TENANT, TARGET, 2)]
    assert history(store, TENANT, TARGET) == [base, winner]


def test_loser_leaves_no_history_record(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic interleaving: another promotion completes just before our CAS. The loser
    must fail and leave no trace; sequence 2 in history is the winner's."""
    base = do_promote(store, "run-base", expected=None)
    loser_prefix, winner_prefix = artifact(store, "run-loser"), artifact(store, "run-winner")
    real_put_if = store.put_if
    interleaved: list[ProductionPointer] = []

    def put_if(key: str, data: bytes, expected_version: str | None) -> str:
        if key == production_key(TENANT, TARGET) and not interleaved:
            monkeypatch.setattr(store, "put_if", real_put_if)  # the winner runs unhindered
            interleaved.append(promote(
                store, TENANT, TARGET, artifact_prefix=winner_prefix, run_id="run-winner",
                metrics={}, reason="", expected=base,
            ))
        return real_put_if(key, data, expected_version)

    monkeypatch.setattr(store, "put_if", put_if)
    with pytest.raises(ConflictError, match="lost the race"):
        promote(store, TENANT, TARGET, artifact_prefix=loser_prefix, run_id="run-loser",
                metrics={}, reason="", expected=base)
    winner = interleaved[0]
    assert current(store, TENANT, TARGET) == winner
    assert history_files(store) == [history_key(TENANT, TARGET, 1), history_key(TENANT, TARGET, 2)]
    assert store.get(history_key(TENANT, TARGET, 2)) == winner.to_bytes()
    assert history(store, TENANT, TARGET) == [base, winner]


def test_concurrent_first_promotions_one_winner(store: ObjectStore) -> None:
    n = racers(store)
    prefixes = [artifact(store, f"run-{i}") for i in range(n)]
    results = race(n, lambda i: promote(
        store, TENANT, TARGET, artifact_prefix=prefixes[i], run_id=f"run-{i}",
        metrics={}, reason="first", expected=None,
    ))
    winners = [r for r in results if isinstance(r, ProductionPointer)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConflictError) for r in results if r is not winners[0]), results
    assert current(store, TENANT, TARGET) == winners[0]
    assert history(store, TENANT, TARGET) == winners
    assert history_files(store) == [history_key(TENANT, TARGET, 1)]


def test_rollback_races_promotion(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    do_promote(store, "run-a", expected=None)
    b = do_promote(store, "run-b")
    c_prefix = artifact(store, "run-c")
    # Both read production before either swaps: without this a loaded machine could run one
    # after the other, and then both rightly win (the flaky failure seen under `make test`).
    both_read = threading.Barrier(2)
    real_read = promotion._read_production

    def read_then_wait(*args: Any) -> Any:
        now = real_read(*args)
        if threading.current_thread() is not threading.main_thread():  # the two racers only
            both_read.wait(timeout=30)
        return now

    monkeypatch.setattr(promotion, "_read_production", read_then_wait)
    results = race(2, lambda i: rollback(store, TENANT, TARGET) if i == 0 else promote(
        store, TENANT, TARGET, artifact_prefix=c_prefix, run_id="run-c", metrics={}, reason="", expected=b,
    ))
    winners = [r for r in results if isinstance(r, ProductionPointer)]
    assert len(winners) == 1 and isinstance([r for r in results if r is not winners[0]][0], ConflictError), results
    assert current(store, TENANT, TARGET) == winners[0]
    assert [p.sequence for p in history(store, TENANT, TARGET)] == [1, 2, 3]
    assert len(history_files(store)) == 3


_PROMOTER = """
import sys, time
from pathlib import Path
from pipeline.config import StorageConfig
from pipeline.promotion import ProductionPointer, promote
from pipeline.storage import ObjectStore
url, expected_json, run_id, prefix, go = sys.argv[1:6]
store = ObjectStore(StorageConfig(url=url))
expected = ProductionPointer.model_validate_json(expected_json)
Path(go).with_name("ready-" + run_id).touch()
while not Path(go).exists():  # start together
    time.sleep(0.005)
try:
    promote(store, "acme", "routing", artifact_prefix=prefix, run_id=run_id, metrics={}, reason="race", expected=expected)
    print("won")
except Exception as exc:
    print(type(exc).__name__)
"""


def test_concurrent_promotions_across_processes(tmp_path: Path) -> None:
    """The local store's CAS must hold between processes (separate CronJob runs), too."""
    from pipeline.config import StorageConfig

    store = ObjectStore(StorageConfig(url=f"file://{tmp_path / 'store'}"))
    base = do_promote(store, "run-base", expected=None)
    runs = {f"run-{i}": artifact(store, f"run-{i}") for i in range(4)}
    go = tmp_path / "go"
    procs = {
        run_id: subprocess.Popen(
            [sys.executable, "-c", _PROMOTER, store.url, base.model_dump_json(), run_id, prefix, str(go)],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1],
        )
        for run_id, prefix in runs.items()
    }
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outcomes = {run_id: p.communicate(timeout=60)[0].strip() for run_id, p in procs.items()}
    winners = [run_id for run_id, out in outcomes.items() if out == "won"]
    assert len(winners) == 1, outcomes
    assert sorted(out for out in outcomes.values() if out != "won") == ["ConflictError"] * 3, outcomes
    now = current(store, TENANT, TARGET)
    assert now is not None and now.run_id == winners[0] and now.artifact_prefix == runs[winners[0]]
    assert [p.run_id for p in history(store, TENANT, TARGET)] == ["run-base", winners[0]]
    assert len(history_files(store)) == 2


def test_promotion_cas_under_load_across_processes(store: ObjectStore) -> None:
    """Many processes × many rounds, with a killed writer's old lock file planted before every
    round and rollbacks racing promotions: every round has exactly one winning promoter (or
    the rollback wins), no two winners share a sequence, and history holds every record
    production has served, the serving one included."""
    import multiprocessing

    from tests.concurrency import promotion_worker

    local = store.local_root is not None
    # SeaweedFS serialises conditional writes to one key in ~1 s steps: fewer rounds there.
    processes, rounds = (6, 24) if local else (3, 6)
    rollback_rounds = frozenset(range(1, rounds, 2))
    do_promote(store, "run-base-1", expected=None)
    do_promote(store, "run-base-2")
    spawn = multiprocessing.get_context("spawn")  # real processes, nothing shared but the store
    barrier, results = spawn.Barrier(processes), spawn.Queue()
    workers = [
        spawn.Process(target=promotion_worker, args=(store.config.model_dump_json(), i, rounds, rollback_rounds, barrier, results))
        for i in range(processes)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in range(processes * rounds)]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    assert {o[2] for o in outcomes} <= {"won", "ConflictError", "NotFoundError"}, outcomes
    assert all(o[2] != "NotFoundError" or (o[1] == 0 and o[0] in rollback_rounds) for o in outcomes), outcomes
    won = [o for o in outcomes if o[2] == "won"]
    for r in range(rounds):
        promoters = [o for o in won if o[0] == r and not (o[1] == 0 and r in rollback_rounds)]
        assert len(promoters) <= 1, (r, promoters)
        assert [o for o in won if o[0] == r], f"round {r}: nobody won"
        if r not in rollback_rounds:
            assert len(promoters) == 1, (r, promoters)
    sequences = sorted(o[3] for o in won)
    assert sequences == list(range(3, 3 + len(won))), sequences  # one winner per sequence, none lost
    recorded = history(store, TENANT, TARGET)
    assert [p.sequence for p in recorded] == list(range(1, 3 + len(won)))
    assert {(p.sequence, p.promoted_at) for p in recorded} >= {(o[3], o[5]) for o in won}
    serving = current(store, TENANT, TARGET)
    assert serving == recorded[-1]
    assert history_key(TENANT, TARGET, serving.sequence) in history_files(store)  # on disk, not only merged in
    assert len(history_files(store)) == serving.sequence


def test_crash_between_swap_and_history_heals(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a = do_promote(store, "run-a", expected=None)
    b_prefix = artifact(store, "run-b")
    real_put_new = store.put_new
    lost = history_key(TENANT, TARGET, 2)

    def failing_put_new(key: str, data: bytes) -> None:
        if key == lost:
            raise StoreUnavailableError("simulated crash before the history write")
        real_put_new(key, data)

    monkeypatch.setattr(store, "put_new", failing_put_new)
    with caplog.at_level(logging.WARNING, logger="pipeline.promotion"):
        b = do_promote(store, "run-b", artifact_prefix=b_prefix)
    assert "history record was not written" in caplog.text
    assert current(store, TENANT, TARGET) == b  # the swap is committed and reported as such
    assert not store.exists(lost)
    assert history(store, TENANT, TARGET) == [a, b]  # the gap is invisible to readers
    monkeypatch.undo()

    c = do_promote(store, "run-c")  # the next promotion writes the missing record first
    assert store.exists(lost) and store.get(lost) == b.to_bytes()
    assert history(store, TENANT, TARGET) == [a, b, c]
    assert rollback(store, TENANT, TARGET).artifact_prefix == b.artifact_prefix


def test_lost_response_of_a_winning_swap(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A retried conditional PUT whose first attempt landed fails the condition against our own
    write; promote must see that production holds its record and report success."""
    do_promote(store, "run-a", expected=None)
    b_prefix = artifact(store, "run-b")
    real_put_if = store.put_if

    def landed_then_conflict(key: str, data: bytes, expected_version: str | None) -> str:
        real_put_if(key, data, expected_version)
        raise ConflictError("simulated retry after a lost response")

    monkeypatch.setattr(store, "put_if", landed_then_conflict)
    b = do_promote(store, "run-b", artifact_prefix=b_prefix)
    monkeypatch.undo()
    assert current(store, TENANT, TARGET) == b


def test_crash_after_history_of_previous_only(store: ObjectStore) -> None:
    """Production removed by hand while history exists: sequences are never reused."""
    do_promote(store, "run-a", expected=None)
    do_promote(store, "run-b")
    store.delete(production_key(TENANT, TARGET))
    c = do_promote(store, "run-c", expected=None)
    assert c.sequence == 3
    assert [p.sequence for p in history(store, TENANT, TARGET)] == [1, 2, 3]


@pytest.mark.parametrize("tenant", ["../x", "..", "", "Acme", "a/b", "-a", "a" * 64])
def test_bad_tenant_rejected_before_any_io(store: ObjectStore, tenant: str) -> None:
    calls: list[str] = []
    for name in ("get", "get_versioned", "exists", "list", "put_new", "put_if", "put_overwrite"):
        real = getattr(store, name)
        setattr(store, name, lambda *a, _real=real, _name=name, **k: (calls.append(_name), _real(*a, **k))[1])
    for op in (
        lambda: current(store, tenant, TARGET),
        lambda: history(store, tenant, TARGET),
        lambda: rollback(store, tenant, TARGET),
        lambda: promote(store, tenant, TARGET, artifact_prefix=f"tenants/{tenant}/runs/r/train/x",
                        run_id="r", metrics={}, reason="", expected="read"),
    ):
        with pytest.raises(InvalidTenantError):
            op()
    assert calls == []
    assert store.list("") == []


@pytest.mark.parametrize("target", ["../x", "", "Routing", "a/b"])
def test_bad_target_rejected(store: ObjectStore, target: str) -> None:
    for op in (
        lambda: current(store, TENANT, target),
        lambda: history(store, TENANT, target),
        lambda: rollback(store, TENANT, target),
        lambda: promote(store, TENANT, target, artifact_prefix=artifact(store, "run-x"), run_id="run-x",
                        metrics={}, reason="", expected="read"),
    ):
        with pytest.raises(ConfigError):
            op()


def test_malformed_production_record(store: ObjectStore) -> None:
    store.put_overwrite(production_key(TENANT, TARGET), b'{"sequence": "not a record"}')
    with pytest.raises(ConfigError, match="not a valid production record"):
        current(store, TENANT, TARGET)
