"""Bad input is exit 2 with a message naming what is wrong, before any work and without a
traceback: out-of-range and non-finite numbers, configuration ranges that would switch a check
off, unreadable files, and corrupted stored objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import promotion
from pipeline.cli import MAX_LOOKBACK_HOURS, build_parser, main
from pipeline.config import StorageConfig
from pipeline.storage import ObjectStore


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def config(tmp_path: Path, store_dir: Path):
    def make(**sections: object) -> str:
        path = tmp_path / "config.json"
        path.write_text(json.dumps({"storage": {"url": f"file://{store_dir}"}, "retry_attempts": 1, **sections}))
        return str(path)

    return make


def run(config_file: str, *argv: str) -> list[str]:
    return [argv[0], "--config", config_file, "--tenant", "acme", *argv[1:]]


def assert_refused(code: int, capsys: pytest.CaptureFixture[str], *words: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


def stored(store_dir: Path) -> list[Path]:
    return [p for p in store_dir.rglob("*") if p.is_file()] if store_dir.exists() else []


RUN = ("--run-id", "r1")
BAD_NUMBERS = [
    (("harvest", *RUN), "--lookback-hours", "-5"),
    (("harvest", *RUN), "--lookback-hours", "0"),
    (("harvest", *RUN), "--lookback-hours", "nan"),
    (("harvest", *RUN), "--lookback-hours", "inf"),
    (("harvest", *RUN), "--lookback-hours", "1e9"),
    (("harvest", *RUN), "--min-confidence", "5"),
    (("harvest", *RUN), "--min-confidence", "-0.1"),
    (("harvest", *RUN), "--min-confidence", "nan"),
    (("harvest", *RUN), "--end-time", "0001-01-01T00:00:00"),
    (("harvest", *RUN), "--end-time", "yesterday"),
    (("annotate", *RUN), "--confidence-threshold", "1.5"),
    (("annotate", *RUN), "--max-annotations", "-1"),
    (("synthesize", *RUN), "--count", "-3"),
    (("train", *RUN, "--target", "routing"), "--max-iterations", "0"),
    (("train", *RUN, "--target", "routing"), "--optimizer", "SIMBAA"),
    (("gate", *RUN, "--target", "routing"), "--improvement-threshold", "-5"),
    (("gate", *RUN, "--target", "routing"), "--improvement-threshold", "nan"),
    (("maintenance", *RUN), "--retention-days", "nan"),
    (("maintenance", *RUN), "--retention-days", "1e9"),
    (("maintenance", *RUN), "--retention-days", "0"),
    (("rollback", "--target", "routing"), "--to", "0"),
    (("batch",), "--lookback-hours", "-5"),
    (("batch",), "--min-confidence", "5"),
    (("batch",), "--max-iterations", "-1"),
    (("batch",), "--synthetic-count", "-1"),
    (("batch",), "--improvement-threshold", "inf"),
]


@pytest.mark.parametrize(("argv", "flag", "value"), BAD_NUMBERS, ids=[f"{a[0]} {f} {v}" for a, f, v in BAD_NUMBERS])
def test_bad_numbers_are_refused_before_any_work(argv, flag, value, config, store_dir, capsys) -> None:
    code = main(run(config(), *argv, flag, value))
    assert_refused(code, capsys, flag)
    assert stored(store_dir) == []  # no run clock, no "skipped" result under the run id


def test_the_bounds_themselves_are_accepted() -> None:
    args = build_parser().parse_args(
        ["harvest", "--tenant", "acme", "--run-id", "r1", "--lookback-hours", f"{MAX_LOOKBACK_HOURS:g}", "--min-confidence", "1"]
    )
    assert (args.lookback_hours, args.min_confidence) == (MAX_LOOKBACK_HOURS, 1.0)
    assert build_parser().parse_args(["harvest", "--tenant", "a", "--run-id", "r", "--min-confidence", "0"]).min_confidence == 0.0


def test_a_bad_log_level_is_refused(config, capsys, monkeypatch) -> None:
    assert_refused(main(["--log-level", "LOUD", *run(config(), "report", *RUN)]), capsys, "--log-level")
    monkeypatch.setenv("COGNIVERSE_LOG_LEVEL", "chatty")
    assert_refused(main(run(config(), "report", *RUN)), capsys, "--log-level")


BAD_CONFIG = [
    ({"gate": {"max_p_value": 7}}, "max_p_value"),
    ({"gate": {"max_p_value": 0}}, "max_p_value"),
    ({"gate": {"min_heldout_examples": -1}}, "min_heldout_examples"),
    ({"gate": {"min_heldout_examples": 0}}, "min_heldout_examples"),
    ({"gate": {"improvement_threshold": -5}}, "improvement_threshold"),
    ({"training": {"heldout_fraction": 2.5}}, "heldout_fraction"),
    ({"training": {"heldout_fraction": 0}}, "heldout_fraction"),
    ({"training": {"heldout_fraction": 1}}, "heldout_fraction"),
    ({"training": {"min_reward": 1.5}}, "min_reward"),
    ({"training": {"min_train_examples": 0}}, "min_train_examples"),
    ({"training": {"tiers": {"bootstrap_below": 600, "simba_below": 500}}}, "ascending"),
    ({"annotation_confidence_threshold": 5}, "annotation_confidence_threshold"),
    ({"max_annotations_per_run": -1}, "max_annotations_per_run"),
    ({"retry_attempts": 0}, "retry_attempts"),
    ({"retry_backoff_s": -1}, "retry_backoff_s"),
    ({"reward": {"search_quality_weight": -0.4}}, "search_quality_weight"),
    ({"reward": {"search_quality_weight": 0, "agent_success_weight": 0}}, "agent_success_weight must be > 0"),
    ({"reward": {"max_time_penalty": 2}}, "max_time_penalty"),
    ({"phoenix": {"page_size": 0}}, "page_size"),
    ({"phoenix": {"timeout_s": 0}}, "timeout_s"),
    ({"llm": {"primary": {"model": "openai/x", "max_tokens": 0}}}, "max_tokens"),
    ({"llm": {"primary": {"model": "openai/x", "temperature": -1}}}, "temperature"),
    ({"planning": {"train_probability": 2}}, "train_probability"),
    ({"planning": {"model": {"n_estimators": 0}}}, "n_estimators"),
]


@pytest.mark.parametrize(("sections", "named"), BAD_CONFIG, ids=[n + str(i) for i, (_, n) in enumerate(BAD_CONFIG)])
def test_config_ranges_that_would_switch_a_check_off_are_refused(sections, named, config, store_dir, capsys) -> None:
    assert_refused(main(run(config(**sections), "report", *RUN)), capsys, "invalid configuration", named)
    assert stored(store_dir) == []


def test_nan_and_infinity_in_yaml_are_refused(tmp_path, store_dir, capsys) -> None:
    for value in (".nan", ".inf"):
        path = tmp_path / "config.yaml"
        path.write_text(f"storage: {{url: 'file://{store_dir}'}}\ngate: {{max_p_value: {value}}}\n")
        assert_refused(main(["report", "--config", str(path), "--tenant", "acme", *RUN]), capsys, "max_p_value")


def test_unreadable_config_files_are_named(tmp_path, capsys) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("gate: {improvement_threshold: 5}  # réglé\n".encode("latin-1"))
    for path, words in ((directory, ("is a directory",)), (latin1, ("not UTF-8",))):
        assert_refused(main(["report", "--config", str(path), "--tenant", "acme", *RUN]), capsys, str(path), *words)


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(json.dumps({"query": "vidéo du but"}, ensure_ascii=False).encode("latin-1") + b"\n")
    return {"directory": directory, "non-UTF-8": latin1, "missing": tmp_path / "nope.jsonl"}


@pytest.mark.parametrize("kind", ["directory", "non-UTF-8", "missing"])
def test_unreadable_input_and_golden_files_are_named(kind, bad_files, config, tmp_path, capsys) -> None:
    path = str(bad_files[kind])
    predict = run(config(), "predict", "--target", "routing", "--input", path, "--output", str(tmp_path / "out.jsonl"))
    assert_refused(main(predict), capsys, "--input", path)
    evaluate = run(config(), "evaluate", *RUN, "--target", "routing", "--candidate", "unoptimized", "--golden", path)
    assert_refused(main(evaluate), capsys, "--golden", path)


def test_output_paths_of_the_wrong_kind_are_refused_before_the_work(config, tmp_path, store_dir, capsys) -> None:
    queries = tmp_path / "in.jsonl"
    queries.write_text('{"query": "x"}\n')
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    predict = run(config(), "predict", "--target", "routing", "--input", str(queries), "--output", str(tmp_path))
    assert_refused(main(predict), capsys, "--output", "is a directory")
    assert_refused(main(run(config(), "report", *RUN, "--result-file", str(tmp_path))), capsys, "--result-file")
    assert_refused(main(run(config(), "report", *RUN, "--outputs-dir", str(a_file))), capsys, "--outputs-dir")
    assert_refused(main(run(config(), "report", *RUN, "--result-file", str(a_file / "r.json"))), capsys, "is a file")
    assert stored(store_dir) == []


@pytest.mark.parametrize(("content", "named"), [(b"{not json", "JSONDecodeError"), (b"{}", "missing key"), (b"[1, 2]", "TypeError")])
def test_a_corrupted_program_json_is_exit_2_naming_the_object(content, named, config, store_dir, tmp_path, capsys) -> None:
    store = ObjectStore(StorageConfig(url=f"file://{store_dir}"))
    prefix = "tenants/acme/runs/r1/train/routing"
    store.put_new(f"{prefix}/program.json", content)
    promotion.promote(store, "acme", "routing", artifact_prefix=prefix, run_id="r1", metrics={}, reason="t", expected=None)
    queries = tmp_path / "in.jsonl"
    queries.write_text('{"query": "x"}\n')
    output = tmp_path / "out.jsonl"
    code = main(run(config(), "predict", "--target", "routing", "--input", str(queries), "--output", str(output)))
    assert_refused(code, capsys, f"{prefix}/program.json", "not a valid routing program state", named)
    assert not output.exists()


def test_corrupted_stored_rows_name_the_object_and_line(store_dir) -> None:
    from pipeline.errors import ConfigError
    from pipeline.run.context import read_jsonl, read_parquet

    store = ObjectStore(StorageConfig(url=f"file://{store_dir}"))
    store.put_new("t/heldout.jsonl", b'{"query": "a"}\n{"query": \n')
    with pytest.raises(ConfigError, match=r"heldout.jsonl, line 2: not JSON"):
        read_jsonl(store, "t/heldout.jsonl")
    store.put_new("t/latin1.jsonl", '{"query": "é"}\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.jsonl is not UTF-8"):
        read_jsonl(store, "t/latin1.jsonl")
    store.put_new("t/experiences.parquet", b"PAR1 truncated")
    with pytest.raises(ConfigError, match="experiences.parquet is not a readable Parquet file"):
        read_parquet(store, "t/experiences.parquet")
