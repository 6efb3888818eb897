"""Argo's small languages, evaluated locally.

- `{{name}}` simple tags and `{{=...}}` expression tags (substitution; expr-lang subset in
  `pipeline.argo.exprlang`).
- `when`: Argo hands the substituted string to govaluate after turning every bare word into a
  string literal, so `{{x}} == train` compares strings, `5 > 3` numbers, `true` is a boolean.
  Supported: `== != < > <= >= =~ !~`, `in (a, b, ...)`, `&& || !`, unary `-`, parentheses,
  quoted strings, numbers, booleans. Anything else (arithmetic, ternaries, functions) raises `ExpressionError`.
- `retryStrategy.expression`: expr-lang, like every `{{=...}}` (`pipeline.argo.exprlang`).
- `depends`: `task`, `task.Succeeded|Failed|Errored|Skipped|Omitted|Daemoned|AnySucceeded|
  AllFailed` combined with `&& || !` and parentheses; a bare `task` means
  `task.Succeeded || task.Skipped || task.Daemoned`, as in Argo.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Union

from pipeline.argo import exprlang
from pipeline.argo.exprlang import ExpressionError  # defined with the language; raised here too

# fasttemplate's rule, as Argo uses it: a tag runs from `{{` to the next `}}` (so an expression
# may hold `{...}` maps), its name is trimmed.
TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)


# --- substitution --------------------------------------------------------------------------


def substitute(value: Any, scope: Mapping[str, Any]) -> Any:
    """Replace every `{{name}}` whose name is in `scope`, and every `{{=expression}}` whose
    variables are, in every string of a YAML tree. Unknown tags stay as they are: a later
    stage (or the leftover check) deals with them. An expression that fails for another reason
    raises ExpressionError."""
    env: dict[str, Any] | None = None

    def replace(match: re.Match[str]) -> str:
        nonlocal env
        inner = match.group(1)
        if not inner.startswith("="):
            found = scope.get(inner)
            return found if isinstance(found, str) else match.group(0)
        if env is None:
            env = exprlang.scope_env(scope)
        try:
            result = exprlang.Expression(inner[1:]).evaluate(env)
        except exprlang.UnknownName:
            return match.group(0)  # not in scope yet: Argo leaves it for a later pass
        # A nil result (a task that has not run) stays unresolved too, as in Argo.
        return match.group(0) if result is None else exprlang.go_string(result)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return TAG.sub(replace, item) if "{{" in item else item
        if isinstance(item, list):
            return [walk(element) for element in item]
        if isinstance(item, dict):
            return {key: walk(element) for key, element in item.items()}
        return item

    return walk(value)


# What an Argo variable looks like. Other `{{...}}` text (a Go or Jinja template inside a script)
# is not Argo's and is left alone, as Argo leaves it.
_ARGO_VARIABLE = re.compile(r"^(?:(?:inputs|outputs|workflow|tasks|steps|pod|node)\.|(?:item|retries)(?:\.|$))")


def first_unresolved(text: str) -> str | None:
    """The first Argo variable tag left in a string, if any."""
    for match in TAG.finditer(text):
        if _ARGO_VARIABLE.match(match.group(1)):
            return match.group(0)
    return None


def unresolved_tags(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, tag) for every Argo variable left in a YAML tree."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found.extend((path, m.group(0)) for m in TAG.finditer(value) if _ARGO_VARIABLE.match(m.group(1)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(unresolved_tags(item, f"{path}[{index}]"))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(unresolved_tags(item, f"{path}.{key}" if path else str(key)))
    return found


def param_string(value: Any) -> str:
    """How Argo's AnyString renders a YAML scalar: booleans lowercase, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def item_scope(item: Any) -> dict[str, str]:
    """`{{item}}` and, for an object item, `{{item.<field>}}` (one level, as in Argo)."""
    scope = {"item": param_string(item)}
    if isinstance(item, dict):
        for key, value in item.items():
            scope[f"item.{key}"] = param_string(value)
    return scope


def item_label(item: Any) -> str:
    """The part of an expanded node's name that describes its item: `foo`, or for an object
    `k1:v1,k2:v2` with sorted keys (Argo's `processItem`)."""
    if isinstance(item, dict):
        return ",".join(sorted(f"{key}:{param_string(value)}" for key, value in item.items()))
    return param_string(item)


# --- when -----------------------------------------------------------------------------------

_WHEN_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|=~|!~|&&|\|\||[<>!(),\-])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)

Value = Union[bool, float, str, tuple]


def _when_tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _WHEN_TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        position = match.end()
        kind = match.lastgroup
        raw = match.group(kind)
        if kind == "number":
            tokens.append(("value", float(raw)))
        elif kind == "string":
            tokens.append(("value", _unquote(raw)))
        elif kind == "word" and raw == "in":
            tokens.append(("op", "in"))  # govaluate's membership operator: `x in (1, 10)`
        elif kind == "word":
            # govaluate parses booleans; every other bare word Argo turns into a string.
            tokens.append(("value", {"true": True, "false": False}.get(raw, raw)))
        elif kind == "op":
            tokens.append(("op", raw))
        else:
            hint = " (an unresolved variable)" if raw == "{" else ""
            raise ExpressionError(f"unexpected character {raw!r} at position {match.start(kind)}{hint}")
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class _WhenParser:
    """Recursive descent with govaluate's precedence: `||` < `&&` < comparison < prefix."""

    _COMPARISONS = ("==", "!=", "<", ">", "<=", ">=", "=~", "!~", "in")

    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.index = 0

    def parse(self) -> Value:
        if not self.tokens:
            raise ExpressionError("empty expression")
        value = self._or()
        if self.index != len(self.tokens):
            raise ExpressionError(f"unexpected {self._describe(self.tokens[self.index])}")
        return value

    def _peek_op(self) -> str | None:
        if self.index < len(self.tokens) and self.tokens[self.index][0] == "op":
            return self.tokens[self.index][1]
        return None

    def _or(self) -> Value:
        left = self._and()
        while self._peek_op() == "||":
            self.index += 1
            right = self._and()
            left = _require_bool(left, "||") or _require_bool(right, "||")
        return left

    def _and(self) -> Value:
        left = self._comparison()
        while self._peek_op() == "&&":
            self.index += 1
            right = self._comparison()
            left = _require_bool(left, "&&") and _require_bool(right, "&&")
        return left

    def _comparison(self) -> Value:
        left = self._prefix()
        while self._peek_op() in self._COMPARISONS:  # left-associative, as in govaluate
            op = self._peek_op()
            self.index += 1
            left = _compare(str(op), left, self._prefix())
        return left

    def _prefix(self) -> Value:
        op = self._peek_op()
        if op == "!":
            self.index += 1
            return not _require_bool(self._prefix(), "!")
        if op == "-":
            self.index += 1
            operand = self._prefix()
            if not isinstance(operand, float):
                raise ExpressionError(f"cannot negate {operand!r}")
            return -operand
        return self._primary()

    def _primary(self) -> Value:
        if self.index >= len(self.tokens):
            raise ExpressionError("expression ends too early")
        kind, value = self.tokens[self.index]
        self.index += 1
        if kind == "value":
            return value
        if value == "(":
            inner = self._or()
            items = [inner]
            while self._peek_op() == ",":  # govaluate's array literal, the right side of `in`
                self.index += 1
                items.append(self._or())
            if self._peek_op() != ")":
                raise ExpressionError("missing ')'")
            self.index += 1
            return inner if len(items) == 1 else tuple(items)
        raise ExpressionError(f"unexpected {self._describe((kind, value))}")

    @staticmethod
    def _describe(token: tuple[str, Any]) -> str:
        kind, value = token
        if kind == "op":
            return f"operator {value!r}" if value not in "()" else f"{value!r}"
        return f"value {value!r}"


def _require_bool(value: Value, op: str) -> bool:
    if not isinstance(value, bool):
        raise ExpressionError(f"operator {op!r} needs booleans, got {value!r}")
    return value


def _compare(op: str, left: Value, right: Value) -> bool:
    if op == "in":
        if not isinstance(right, tuple):
            right = (right,)
        return any(type(left) is type(item) and left == item for item in right)
    if isinstance(left, tuple) or isinstance(right, tuple):
        raise ExpressionError(f"a list ({', '.join(map(repr, left if isinstance(left, tuple) else right))}) is only valid after 'in'")
    if op in ("==", "!="):
        # govaluate compares typed values: the string "1" is not the number 1, true is not 1.
        equal = type(left) is type(right) and left == right
        return equal if op == "==" else not equal
    if op in ("=~", "!~"):
        if not isinstance(left, str) or not isinstance(right, str):
            raise ExpressionError(f"operator {op!r} needs strings, got {left!r} and {right!r}")
        try:
            found = re.search(right, left) is not None
        except re.error as exc:
            raise ExpressionError(f"invalid regular expression {right!r}: {exc}") from exc
        return found if op == "=~" else not found
    both_numbers = isinstance(left, float) and isinstance(right, float)
    both_strings = isinstance(left, str) and isinstance(right, str)
    if not (both_numbers or both_strings):
        raise ExpressionError(f"cannot compare {left!r} {op} {right!r}: both sides must be numbers or both strings")
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]  # type: ignore[operator]


def evaluate_when(expression: str) -> bool:
    """Evaluate a substituted `when` string; raise ExpressionError when it is not a valid
    boolean expression (including any `{{...}}` left unresolved)."""
    if "{{" in expression:
        leftover = TAG.search(expression)
        raise ExpressionError(f"unresolved variable {leftover.group(0) if leftover else '{{'}")
    result = _WhenParser(_when_tokens(expression)).parse()
    if not isinstance(result, bool):
        raise ExpressionError(f"expected a boolean, got {result!r}")
    return result


# --- depends --------------------------------------------------------------------------------

TASK_RESULTS = ("Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed")
_DEPENDS_TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||[!()])|(?P<operand>[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z]+)?)|(?P<bad>\S))")


@dataclass(frozen=True)
class DependsExpr:
    """A parsed `depends`: ("or"|"and", left, right), ("not", operand) or ("task", name, result)."""

    kind: str
    args: tuple[Any, ...]

    def tasks(self) -> list[str]:
        if self.kind == "task":
            return [self.args[0]]
        names: list[str] = []
        for arg in self.args:
            for name in arg.tasks():
                if name not in names:
                    names.append(name)
        return names

    def evaluate(self, result_of: Callable[[str, str], bool]) -> bool:
        if self.kind == "task":
            name, result = self.args
            if result is None:
                return result_of(name, "Succeeded") or result_of(name, "Skipped") or result_of(name, "Daemoned")
            return result_of(name, result)
        if self.kind == "not":
            return not self.args[0].evaluate(result_of)
        if self.kind == "and":
            return self.args[0].evaluate(result_of) and self.args[1].evaluate(result_of)
        return self.args[0].evaluate(result_of) or self.args[1].evaluate(result_of)


def parse_depends(text: str) -> DependsExpr:
    tokens: list[tuple[str, str]] = []
    for match in _DEPENDS_TOKEN.finditer(text.strip()):
        kind = match.lastgroup
        if kind == "bad":
            raise ExpressionError(f"unexpected character {match.group(kind)!r} in depends {text!r}")
        tokens.append((kind, match.group(kind)))
    if not tokens:
        raise ExpressionError("empty depends expression")
    position = 0

    def peek() -> str | None:
        return tokens[position][1] if position < len(tokens) and tokens[position][0] == "op" else None

    def parse_or() -> DependsExpr:
        nonlocal position
        left = parse_and()
        while peek() == "||":
            position += 1
            left = DependsExpr("or", (left, parse_and()))
        return left

    def parse_and() -> DependsExpr:
        nonlocal position
        left = parse_not()
        while peek() == "&&":
            position += 1
            left = DependsExpr("and", (left, parse_not()))
        return left

    def parse_not() -> DependsExpr:
        nonlocal position
        if peek() == "!":
            position += 1
            return DependsExpr("not", (parse_not(),))
        if position >= len(tokens):
            raise ExpressionError(f"depends {text!r} ends too early")
        kind, value = tokens[position]
        position += 1
        if kind == "op" and value == "(":
            inner = parse_or()
            if peek() != ")":
                raise ExpressionError(f"missing ')' in depends {text!r}")
            position += 1
            return inner
        if kind != "operand":
            raise ExpressionError(f"unexpected {value!r} in depends {text!r}")
        name, _, result = value.partition(".")
        if result and result not in TASK_RESULTS:
            raise ExpressionError(
                f"unknown task result '.{result}' in depends {text!r}: Argo supports "
                + ", ".join(f".{r}" for r in TASK_RESULTS)
            )
        return DependsExpr("task", (name, result or None))

    expr = parse_or()
    if position != len(tokens):
        raise ExpressionError(f"unexpected {tokens[position][1]!r} in depends {text!r}")
    return expr


def dependencies_expr(names: list[str], continue_on: Mapping[str, Mapping[str, Any]] | None = None) -> DependsExpr:
    """`dependencies: [A, B]` is `depends: "A && B"`; a dependency with `continueOn` also
    lets its failure (`.Failed`) or error (`.Errored`) through, as Argo's conversion does."""

    def one(name: str) -> DependsExpr:
        expr = DependsExpr("task", (name, None))
        flags = (continue_on or {}).get(name) or {}
        if flags.get("failed"):
            expr = DependsExpr("or", (expr, DependsExpr("task", (name, "Failed"))))
        if flags.get("error"):
            expr = DependsExpr("or", (expr, DependsExpr("task", (name, "Errored"))))
        return expr

    expr = one(names[0])
    for name in names[1:]:
        expr = DependsExpr("and", (expr, one(name)))
    return expr
