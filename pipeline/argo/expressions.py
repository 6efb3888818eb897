"""Argo's small languages, evaluated locally.

- `{{name}}` simple tags (substitution). Expression tags `{{=...}}` are not supported: the
  loader rejects them.
- `when`: Argo hands the substituted string to govaluate after turning every bare word into a
  string literal, so `{{x}} == train` compares strings, `5 > 3` numbers, `true` is a boolean.
  Supported: `== != < > <= >= =~ !~`, `&& || !`, unary `-`, parentheses, quoted strings,
  numbers, booleans. Anything else (arithmetic, ternaries, functions) raises `ExpressionError`.
- `retryStrategy.expression`: a subset of expr-lang (see `RetryExpression`).
- `depends`: `task`, `task.Succeeded|Failed|Errored|Skipped|Omitted|Daemoned|AnySucceeded|
  AllFailed` combined with `&& || !` and parentheses; a bare `task` means
  `task.Succeeded || task.Skipped || task.Daemoned`, as in Argo.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Union

TAG = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
EXPRESSION_TAG = re.compile(r"\{\{=")


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says why."""


# --- substitution --------------------------------------------------------------------------


def substitute(value: Any, scope: Mapping[str, str]) -> Any:
    """Replace every `{{name}}` whose name is in `scope`, in every string of a YAML tree.
    Unknown tags stay as they are: a later stage (or the leftover check) deals with them."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        return TAG.sub(lambda match: scope.get(match.group(1), match.group(0)), value)
    if isinstance(value, list):
        return [substitute(item, scope) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, scope) for key, item in value.items()}
    return value


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
      | (?P<op>==|!=|<=|>=|=~|!~|&&|\|\||[<>!()\-])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)

Value = Union[bool, float, str]


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

    _COMPARISONS = ("==", "!=", "<", ">", "<=", ">=", "=~", "!~")

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
            if self._peek_op() != ")":
                raise ExpressionError("missing ')'")
            self.index += 1
            return inner
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


# --- retryStrategy.expression (expr-lang subset) ---------------------------------------------

_EXPR_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+\.\d+|\d+)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],.\-])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_EXPR_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "asInt": lambda v: int(str(v).strip()),
    "asFloat": lambda v: float(str(v).strip()),
    "int": lambda v: int(float(v)) if isinstance(v, str) else int(v),
    "float": float,
    "string": lambda v: param_string(v),
    "len": len,
}


class RetryExpression:
    """The expr-lang subset Argo users write in `retryStrategy.expression`: literals (numbers,
    quoted strings, true/false/nil, `[lists]`), `lastRetry.<field>`, the functions asInt,
    asFloat, int, float, string and len, `== != < > <= >=`, `in` / `not in`, `&& and`,
    `|| or`, `! not`, unary `-` and parentheses. Parsed at load time; anything else is refused."""

    def __init__(self, text: str, roots: tuple[str, ...] = ("lastRetry",)) -> None:
        self.text = text
        self._roots = roots
        self._tokens = self._tokenize(text)
        self._index = 0
        self._ast = self._or()
        if self._index != len(self._tokens):
            raise ExpressionError(f"unexpected {self._tokens[self._index][1]!r} in expression {text!r}")

    def evaluate(self, env: Mapping[str, Any]) -> bool:
        result = self._eval(self._ast, env)
        if not isinstance(result, bool):
            raise ExpressionError(f"expression {self.text!r} gave {result!r}, not a boolean")
        return result

    # parsing
    def _tokenize(self, text: str) -> list[tuple[str, Any]]:
        tokens: list[tuple[str, Any]] = []
        for match in _EXPR_TOKEN.finditer(text.strip()):
            kind = match.lastgroup
            raw = match.group(kind)
            if kind == "bad":
                raise ExpressionError(f"unexpected character {raw!r} in expression {text!r}")
            if kind == "number":
                tokens.append(("lit", float(raw) if "." in raw else int(raw)))
            elif kind == "string":
                tokens.append(("lit", _unquote(raw)))
            elif kind == "word" and raw in ("true", "false", "nil"):
                tokens.append(("lit", {"true": True, "false": False, "nil": None}[raw]))
            elif kind == "word" and raw in ("and", "or", "not", "in"):
                tokens.append(("op", {"and": "&&", "or": "||", "not": "!", "in": "in"}[raw]))
            else:
                tokens.append((str(kind), raw))
        if not tokens:
            raise ExpressionError("empty expression")
        return tokens

    def _peek(self, offset: int = 0) -> tuple[str, Any] | None:
        position = self._index + offset
        return self._tokens[position] if position < len(self._tokens) else None

    def _take(self, value: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] == value:
            self._index += 1
            return True
        return False

    def _or(self) -> tuple[Any, ...]:
        node = self._and()
        while self._take("||"):
            node = ("or", node, self._and())
        return node

    def _and(self) -> tuple[Any, ...]:
        node = self._comparison()
        while self._take("&&"):
            node = ("and", node, self._comparison())
        return node

    def _comparison(self) -> tuple[Any, ...]:
        node = self._unary()
        while True:
            token = self._peek()
            if token is None or token[0] != "op":
                return node
            if token[1] in ("==", "!=", "<", ">", "<=", ">=", "in"):
                self._index += 1
                node = ("cmp", token[1], node, self._unary())
            elif token[1] == "!" and self._peek(1) == ("op", "in"):
                self._index += 2
                node = ("not", ("cmp", "in", node, self._unary()))
            else:
                return node

    def _unary(self) -> tuple[Any, ...]:
        if self._take("!"):
            return ("not", self._unary())
        if self._take("-"):
            return ("neg", self._unary())
        return self._postfix()

    def _postfix(self) -> tuple[Any, ...]:
        node = self._primary()
        while self._take("."):
            token = self._peek()
            if token is None or token[0] != "word":
                raise ExpressionError(f"expected a field name after '.' in expression {self.text!r}")
            self._index += 1
            node = ("field", node, token[1])
        return node

    def _primary(self) -> tuple[Any, ...]:
        token = self._peek()
        if token is None:
            raise ExpressionError(f"expression {self.text!r} ends too early")
        self._index += 1
        kind, value = token
        if kind == "lit":
            return ("lit", value)
        if kind == "word":
            if self._take("("):
                if value not in _EXPR_FUNCTIONS:
                    raise ExpressionError(f"function {value!r} is not supported locally (supported: {', '.join(_EXPR_FUNCTIONS)})")
                args = [] if self._take(")") else self._items(")")
                return ("call", value, args)
            if value not in self._roots:
                raise ExpressionError(f"unknown variable {value!r} in expression {self.text!r} (known: {', '.join(self._roots)})")
            return ("var", value)
        if value == "(":
            node = self._or()
            if not self._take(")"):
                raise ExpressionError(f"missing ')' in expression {self.text!r}")
            return node
        if value == "[":
            return ("list", [] if self._take("]") else self._items("]"))
        raise ExpressionError(f"unexpected {value!r} in expression {self.text!r}")

    def _items(self, closing: str) -> list[tuple[Any, ...]]:
        items = [self._or()]
        while self._take(","):
            items.append(self._or())
        if not self._take(closing):
            raise ExpressionError(f"missing {closing!r} in expression {self.text!r}")
        return items

    # evaluation
    def _eval(self, node: tuple[Any, ...], env: Mapping[str, Any]) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "var":
            return env[node[1]]
        if kind == "field":
            base = self._eval(node[1], env)
            if not isinstance(base, Mapping) or node[2] not in base:
                raise ExpressionError(f"no field {node[2]!r} in expression {self.text!r}")
            return base[node[2]]
        if kind == "list":
            return [self._eval(item, env) for item in node[1]]
        if kind == "call":
            args = [self._eval(arg, env) for arg in node[2]]
            try:
                return _EXPR_FUNCTIONS[node[1]](*args)
            except (TypeError, ValueError) as exc:
                raise ExpressionError(f"{node[1]}({', '.join(map(repr, args))}): {exc}") from exc
        if kind == "not":
            return not _as_bool(self._eval(node[1], env), "!")
        if kind == "neg":
            value = self._eval(node[1], env)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ExpressionError(f"cannot negate {value!r}")
            return -value
        if kind == "and":
            return _as_bool(self._eval(node[1], env), "&&") and _as_bool(self._eval(node[2], env), "&&")
        if kind == "or":
            return _as_bool(self._eval(node[1], env), "||") or _as_bool(self._eval(node[2], env), "||")
        op, left, right = node[1], self._eval(node[2], env), self._eval(node[3], env)
        if op == "in":
            if not isinstance(right, list):
                raise ExpressionError(f"'in' needs a list on its right, got {right!r}")
            return any(_expr_equal(left, item) for item in right)
        if op in ("==", "!="):
            return _expr_equal(left, right) if op == "==" else not _expr_equal(left, right)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
        if not numbers and not (isinstance(left, str) and isinstance(right, str)):
            raise ExpressionError(f"cannot compare {left!r} {op} {right!r}")
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]


def _as_bool(value: Any, op: str) -> bool:
    if not isinstance(value, bool):
        raise ExpressionError(f"operator {op!r} needs booleans, got {value!r}")
    return value


def _expr_equal(left: Any, right: Any) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    return left == right if numbers else (type(left) is type(right) and left == right)
