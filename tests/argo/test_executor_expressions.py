"""`when`, `depends` and `{{...}}` substitution, as Argo evaluates them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.argo.expressions import (
    ExpressionError,
    evaluate_when,
    first_unresolved,
    item_label,
    parse_depends,
    substitute,
)
from tests.argo.executor_support import node, run_fixture, venv_python_first  # noqa: F401


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("heads == heads", True),
        ("heads == tails", False),
        ("heads != tails", True),
        ("'a b' == \"a b\"", True),
        ("5 > 3", True),
        ("0.7 >= 0.70", True),
        ("12 < 5", False),
        ("-1 < 0", True),
        ("true", True),
        ("false || true", True),
        ("true && !false", True),
        ("!(1 == 1)", False),
        ("(3 > 2) && (routing == routing || x == y)", True),
        ("true == true", True),
        ("1 == '1'", False),  # govaluate compares types: a number is not a string
        ("abc < abd", True),
        ("routing =~ '^rout'", True),
        ("video !~ '^rout'", True),
        ("modality.video == modality.video", True),
        ("a == b == false", True),  # left-associative: (a == b) == false
        ("5 in (1, 5)", True),
        ("3 in (1, 10)", False),
        ("heads in (heads, tails)", True),
        ("'1' in (1, 2)", False),  # typed, as ==
        ("!(2 in (1, 3)) && 2 in (2)", True),
    ],
)
def test_when(expression: str, expected: bool) -> None:
    assert evaluate_when(expression) is expected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("skip-all == skip-all", "unexpected operator '-'"),
        ("{{tasks.plan.outputs.result}} == train", "unresolved variable {{tasks.plan.outputs.result}}"),
        ("5", "expected a boolean"),
        ("5 > heads", "cannot compare"),
        ("1 && true", "needs booleans"),
        ("(true", "missing ')'"),
        ("", "empty expression"),
        ("x ? y : z", "unexpected character '?'"),
    ],
)
def test_when_errors(expression: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate_when(expression)
    assert fragment in str(caught.value)


def test_depends() -> None:
    expr = parse_depends("(task-2.Succeeded || task-2.Skipped) && !task-3.Failed")
    assert expr.tasks() == ["task-2", "task-3"]
    phases = {"task-2": "Skipped", "task-3": "Succeeded"}
    assert expr.evaluate(lambda task, result: phases[task] == result)
    phases["task-3"] = "Failed"
    assert not expr.evaluate(lambda task, result: phases[task] == result)
    bare = parse_depends("A")  # (A.Succeeded || A.Skipped || A.Daemoned)
    assert bare.evaluate(lambda task, result: result == "Skipped")
    assert not bare.evaluate(lambda task, result: result == "Failed")


@pytest.mark.parametrize("text", ["A.Completed", "A &&", "A B", "(A", "A | B", ""])
def test_depends_errors(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse_depends(text)


def test_substitution_leaves_unknown_tags_for_later() -> None:
    tree = {"args": ["{{inputs.parameters.x}}-{{ tasks.a.outputs.result }}", 3], "when": "{{item}} == 1"}
    assert substitute(tree, {"inputs.parameters.x": "X", "tasks.a.outputs.result": "R"}) == {
        "args": ["X-R", 3],
        "when": "{{item}} == 1",
    }
    assert first_unresolved("echo {{ .Values.x }} {{inputs.parameters.y}}") == "{{inputs.parameters.y}}"
    assert first_unresolved("{{ jinja }}") is None


def test_item_labels_follow_argo() -> None:
    assert item_label("foo") == "foo"
    assert item_label(1) == "1"
    assert item_label({"tag": "9.1", "image": "debian"}) == "image:debian,tag:9.1"
    assert item_label(True) == "true"


def test_expression_tags_in_arguments_and_when(tmp_path: Path) -> None:
    result = run_fixture("expression-tags.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    assert node(result, "compute")["outputs"]["result"] == "1 6 X2 yes"
    assert node(result, "printed")["phase"] == "Succeeded"
    assert node(result, "not-printed")["phase"] == "Skipped"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("7 / 2", 3.5),
        ("7 % 2", 1),
        ("'a' + 'b'", "ab"),
        ("x in ['a', 'b']", True),
        ("x not in ['a', 'b']", False),
        ("n > 2 ? 'big' : 'small'", "big"),
        ("missing ?? 'fallback'", "fallback"),
        ("m['a-b'].c", "deep"),
        ("m?.nothing?.deeper", None),
        ("'abc' matches '^a'", True),
        ("'abc' startsWith 'ab' && 'abc' endsWith 'bc' && 'abc' contains 'b'", True),
        ("sprig.add(1, '2', 3)", 6),
        ("sprig.trimSuffix('.log', 'main.log')", "main"),
        ("len([1, 2, 3])", 3),
        ("toJson({a: 1})", '{"a":1}'),
        ("asFloat('2.5') * 2", 5.0),
        ("!true || not false", True),
        ("map([1, 2], {# * 2})", [2, 4]),
        ("filter(['a.log', 'b.txt'], {# endsWith '.log'})", ["a.log"]),
        ("all([1, 2], {# > 0}) && count([1, 2], {# > 1}) == 1", True),
        ("map([[34, 27]], {sprig.add(#[0], #[1]) / 2})[0]", 30.5),
    ],
)
def test_exprlang(expression: str, expected: object) -> None:
    from pipeline.argo.exprlang import Expression

    env = {"x": "a", "n": 3, "missing": None, "m": {"a-b": {"c": "deep"}}}
    assert Expression(expression).evaluate(env) == expected


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("xs | map(#)", "pipes (`|`) are not supported locally"),
        ("# + 1", "only defined inside a closure"),
        ("now()", "function 'now' is not supported locally"),
        ("sprig.randAlphaNum(5)", "sprig.randAlphaNum is not supported locally"),
        ("1 +", "ends too early"),
        ("'a' - 1", "invalid operation"),
    ],
)
def test_exprlang_refuses_what_it_cannot_evaluate(expression: str, fragment: str) -> None:
    from pipeline.argo.exprlang import Expression

    with pytest.raises(ExpressionError) as caught:
        Expression(expression).evaluate({"xs": [1]})
    assert fragment in str(caught.value)
