"""Parameters: loops (withItems, withParam), aggregation, output files, globals, defaults."""

from __future__ import annotations

import json
from pathlib import Path

from tests.argo.executor_support import WORKFLOWS, node, nodes, output, run_fixture, venv_python_first  # noqa: F401


def test_parameter_aggregation_fans_out_filters_and_fans_in(tmp_path: Path) -> None:
    result = run_fixture("parameter-aggregation-dag.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    # Four pods wrote /tmp/num and /tmp/even at once; each read back its own value.
    items = sorted((n for n in nodes(result) if n["displayName"].startswith("odd-or-even(")), key=lambda n: n["name"])
    assert [n["displayName"] for n in items] == ["odd-or-even(0:1)", "odd-or-even(1:2)", "odd-or-even(2:3)", "odd-or-even(3:4)"]
    assert [(output(n, "num"), output(n, "evenness")) for n in items] == [("1", "odd"), ("2", "even"), ("3", "odd"), ("4", "even")]
    group = node(result, "odd-or-even")
    assert group["type"] == "TaskGroup" and group["children"] == [n["id"] for n in items]
    # withParam over objects, `when` on {{item.evenness}}: odd items are skipped.
    divides = {n["displayName"]: n for n in nodes(result) if n["displayName"].startswith("divide-by-2(")}
    assert divides["divide-by-2(0:evenness:odd,num:1)"]["phase"] == "Skipped"
    assert divides["divide-by-2(1:evenness:even,num:2)"]["outputs"]["result"] == "1"
    assert divides["divide-by-2(3:evenness:even,num:4)"]["outputs"]["result"] == "2"
    # The aggregated result [1, 2] fans out again.
    printed = sorted(n["displayName"] for n in nodes(result) if n["displayName"].startswith("print("))
    assert printed == ["print(0:1)", "print(1:2)"]
    root = result.status["status"]["nodes"][result.name]
    assert json.loads(output(root, "evenness")) == ["odd", "even", "odd", "even"]


def test_loops_param_result(tmp_path: Path) -> None:
    result = run_fixture("loops-param-result.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    sleeps = sorted(n["displayName"] for n in nodes(result) if n["displayName"].startswith("sleep("))
    assert sleeps == ["sleep(0:0.1)", "sleep(1:0.2)", "sleep(2:0.3)"]
    # Expanded steps hang directly under their step group (no TaskGroup in steps).
    group = node(result, "[1]")
    assert len(group["children"]) == 3
    # steps.sleep.outputs.result aggregates the loop's stdout as a JSON list.
    assert json.loads(node(result, "total")["outputs"]["result"]) == ["0.1", "0.2", "0.3"]


def test_loops_over_maps(tmp_path: Path) -> None:
    result = run_fixture("loops-maps.yaml", tmp_path)

    assert result.phase == "Succeeded"
    said = sorted(n["outputs"]["result"] for n in nodes(result) if n["type"] == "Pod")
    assert said == ["alpine:3.6", "debian:8.9", "debian:9.1", "ubuntu:17.10"]
    assert any(n["displayName"] == "test-linux(0:image:debian,tag:9.1)" for n in nodes(result))


def test_global_outputs_reach_later_steps_and_the_exit_handler(tmp_path: Path) -> None:
    result = run_fixture("global-outputs.yaml", tmp_path, artifact_root=tmp_path / "repo")

    assert result.phase == "Succeeded", result.message
    outputs = result.status["status"]["outputs"]
    assert outputs["parameters"] == [{"name": "my-global-param", "value": "hello world"}]
    key = outputs["artifacts"][0]["s3"]["key"]
    assert outputs["artifacts"][0]["name"] == "my-global-art" and (tmp_path / "repo" / key).is_file()
    # Read inside the main steps and again inside the onExit handler.
    params = [n for n in nodes(result) if n["displayName"] == "consume-global-param"]
    arts = [n for n in nodes(result) if n["displayName"] == "consume-global-art"]
    assert len(params) == len(arts) == 2
    assert {n["outputs"]["result"] for n in params} == {"hello world"}
    assert {n["outputs"]["result"] for n in arts} == {"hello world"}
    assert result.status["status"]["nodes"]["global-outputs-" + str(_fnv("global-outputs.onExit"))]["type"] == "Steps"


def test_outputs_dir_is_remapped_per_node_and_defaults_fill_gaps(tmp_path: Path) -> None:
    result = run_fixture("outputs-dir.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    trains = {output(n, "module"): n for n in nodes(result) if n["displayName"].startswith("train(")}
    assert {m: output(n, "improvement") for m, n in trains.items()} == {"routing": "7", "video": "3", "text": "12"}
    assert {output(n, "optional") for n in trains.values()} == {"none"}  # valueFrom.default: file never written
    # The command line saw a per-node directory, not the shared /tmp/outputs.
    for n in trains.values():
        assert (result.run_dir / "nodes" / n["id"] / "fs" / "tmp" / "outputs" / "improvement").is_file()
    assert not Path("/tmp/outputs/improvement").exists() or Path("/tmp/outputs/improvement").read_text() not in ("7", "3", "12")
    assert node(result, "gate")["phase"] == "Skipped"
    globals_ = {p["name"]: p["value"] for p in result.status["status"]["outputs"]["parameters"]}
    assert json.loads(globals_["improvements"]) == ["7", "3", "12"]
    assert globals_["deployed"] == "no"


def test_outputs_dir_gate_runs_when_asked(tmp_path: Path) -> None:
    result = run_fixture("outputs-dir.yaml", tmp_path, parameters={"deploy": "true"})

    assert result.phase == "Succeeded", result.message
    globals_ = {p["name"]: p["value"] for p in result.status["status"]["outputs"]["parameters"]}
    assert globals_["deployed"] == "yes"


def _fnv(text: str) -> int:
    from pipeline.argo.status import fnv1a_32

    return fnv1a_32(text)


def _fan_out(tmp_path: Path, when: str | None) -> dict:
    import yaml

    task = {"name": "train", "depends": "plan", "template": "echo", "withParam": "{{tasks.plan.outputs.parameters.train}}",
            "arguments": {"parameters": [{"name": "m", "value": "{{item}}"}]}}
    if when:
        task["when"] = when
    doc = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "fan-out"},
        "spec": {"entrypoint": "main", "templates": [
            {"name": "main", "dag": {"tasks": [{"name": "plan", "template": "plan"}, task]}},
            {"name": "plan", "container": {"image": "x", "command": ["sh", "-c", "mkdir -p /tmp/o && printf '' > /tmp/o/train && echo 0 > /tmp/o/count"]},
             "outputs": {"parameters": [{"name": "train", "valueFrom": {"path": "/tmp/o/train"}},
                                        {"name": "count", "valueFrom": {"path": "/tmp/o/count"}}]}},
            {"name": "echo", "inputs": {"parameters": [{"name": "m"}]}, "container": {"image": "x", "command": ["echo", "{{inputs.parameters.m}}"]}},
        ]},
    }
    path = tmp_path / "fan-out.yaml"
    path.write_text(yaml.safe_dump(doc))
    return run_fixture(str(path), tmp_path).status


def test_with_param_that_is_not_a_list_errors_the_task(tmp_path: Path) -> None:
    status = _fan_out(tmp_path, None)["status"]
    train = next(n for n in status["nodes"].values() if n["displayName"] == "train")
    assert status["phase"] == "Error" and train["phase"] == "Error"
    assert "withParam value could not be parsed as a JSON list" in train["message"]
    assert "templates[main].dag.tasks[train].withParam" in train["message"]


def test_with_param_that_is_not_a_list_is_fine_when_the_task_is_skipped_anyway(tmp_path: Path) -> None:
    status = _fan_out(tmp_path, "{{tasks.plan.outputs.parameters.count}} > 0")["status"]
    train = next(n for n in status["nodes"].values() if n["displayName"] == "train")
    assert status["phase"] == "Succeeded" and train["phase"] == "Skipped"


def test_step_output_parameters_feed_later_steps(tmp_path: Path) -> None:
    result = run_fixture("output-parameter.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    consume = node(result, "consume-parameter")
    assert consume["inputs"]["parameters"] == [{"name": "message", "value": "hello world"}]


def test_a_steps_template_output_comes_from_its_steps(tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load((WORKFLOWS / "output-parameter.yaml").read_text())
    doc["spec"]["templates"][0]["outputs"] = {
        "parameters": [{"name": "said", "valueFrom": {"parameter": "{{steps.consume-parameter.outputs.result}}"}}]
    }
    path = tmp_path / "steps-output.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = run_fixture(str(path), tmp_path)

    assert result.phase == "Succeeded", result.message
    assert output(result.status["status"]["nodes"]["output-parameter"], "said") == "hello world"


def test_aggregated_outputs_are_lists_of_strings(tmp_path: Path) -> None:
    result = run_fixture("aggregated-outputs.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    numbers, results = node(result, "show")["outputs"]["result"].split(" ", 1)
    # Argo's processAggregateNodeOutputs: parameters are json.Marshal([]string) ...
    assert json.loads(numbers) == ["1", "2", "3", "4"]
    # ... and a result is kept as a string unless it is a JSON object.
    assert json.loads(results) == ["1", "2", {"n": 3}, {"n": 4}]


def test_extra_arguments_are_ignored_as_argo_ignores_them(tmp_path: Path) -> None:
    result = run_fixture("extra-arguments.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    hello = node(result, "hello")
    assert hello["outputs"]["result"] == "hi"
    assert hello["inputs"] == {"parameters": [{"name": "message", "value": "hi"}]}


def test_each_pod_has_its_own_tmp(tmp_path: Path) -> None:
    host_file = tmp_path / "host.txt"
    host_file.write_text("from the host")
    result = run_fixture("private-tmp.yaml", tmp_path, parameters={"host-file": str(host_file)})

    assert result.phase == "Succeeded", result.message
    said = sorted(n["outputs"]["result"] for n in nodes(result) if n["displayName"].startswith("writer("))
    assert said == ["a\nTrue", "b\nTrue"]
    # A path given as a parameter value names this machine's file, as the module docs say.
    assert node(result, "host")["outputs"]["result"] == "from the host"


def test_with_sequence(tmp_path: Path) -> None:
    result = run_fixture("with-sequence.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message

    def items(step: str) -> list[str]:
        found = [n for n in nodes(result) if n["displayName"].startswith(f"{step}(")]
        return [n["outputs"]["result"] for n in sorted(found, key=lambda n: int(n["displayName"].split("(")[1].split(":")[0]))]

    assert items("count") == ["0", "1", "2"]
    assert items("range") == ["100", "101", "102"]
    assert items("down") == ["2", "1", "0"]
    assert items("formatted") == ["user0A", "user0B"]
    assert items("from-output") == ["0", "1"]
    assert any(n["displayName"] == "formatted(1:user0B)" for n in nodes(result))


def test_conditional_outputs_by_expression(tmp_path: Path) -> None:
    for side in ("heads", "tails"):
        result = run_fixture("conditional-outputs.yaml", tmp_path, parameters={"side": side}, artifact_root=tmp_path / "repo")
        assert result.phase == "Succeeded", result.message
        assert node(result, "check")["outputs"]["result"] == f"it was {side} / it was {side}"
        assert output(node(result, "choose"), "side") == f"{side}!"
