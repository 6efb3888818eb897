"""The expr-lang subset Argo evaluates: `{{=...}}` tags, `retryStrategy.expression`, lifecycle
hook `expression`s, output `valueFrom.expression` and artifact `fromExpression`.

Supported: literals (numbers, quoted strings, true/false/nil, `[lists]`, `{maps}`), variables
(Argo's scope as nested maps: `inputs.parameters.x`, `tasks['a-b'].outputs.result`), member and
index access (`a.b`, `a['b']`, `a[0]`, `a?.b`), `+ - * / % **`, comparisons, `in` / `not in`,
`matches`, `contains`, `startsWith`, `endsWith`, `&& and`, `|| or`, `! not`, `?:` ternaries,
`??`, and the functions Argo's examples call: Argo's own (`asInt`, `asFloat`, `jsonpath`,
`toJson`, `string`), expr-lang builtins (`int`, `float`, `len`, `upper`, `lower`, `trim`,
`split`, `join`, `fromJSON`, `toJSON`, `keys`, `values`, `abs`, and with a `{...#...}` closure
`map`, `filter`, `all`, `any`, `none`, `one`, `count`) and `sprig.<name>` for the sprig
functions in `SPRIG`. `now()`, method calls, pipes and `let` are refused by name: an expression
that cannot be evaluated exactly is an error, never a guess.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any, Callable, Mapping


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says why (also `when`,
    `depends` and substitution errors: pipeline.argo.expressions raises it too)."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?|\.\d+)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<op>\?\.|\?\?|==|!=|<=|>=|&&|\|\||\*\*|\.\.|[-+*/%<>!?:()\[\]{},.\#|])
      | (?P<word>[A-Za-z_$][A-Za-z0-9_$]*)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_WORD_OPS = {"and": "&&", "or": "||", "not": "!", "in": "in", "matches": "matches", "contains": "contains",
             "startsWith": "startsWith", "endsWith": "endsWith"}
_LITERALS = {"true": True, "false": False, "nil": None}
_COMPARISON = ("==", "!=", "<", ">", "<=", ">=", "in", "matches", "contains", "startsWith", "endsWith")


def _unescape(raw: str) -> str:
    if raw.startswith("`"):
        return raw[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)), raw[1:-1])


def go_string(value: Any) -> str:
    """How Argo writes an expression's result into the template (`fmt.Sprintf("%v")`)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_string(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


class Expression:
    """A parsed expression; `evaluate(env)` with `env` a mapping of root names to values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = self._tokenize(text)
        self._index = 0
        self._ast = self._ternary()
        if self._index != len(self._tokens):
            raise self._error(f"unexpected {self._tokens[self._index][1]!r}")

    def _error(self, message: str) -> ExpressionError:
        return ExpressionError(f"{message} in expression {self.text.strip()!r}")

    def roots(self) -> set[str]:
        """The variable names the expression reads (for lint and for deciding readiness)."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, tuple):
                if node[0] == "var":
                    found.add(node[1])
                for part in node[1:]:
                    walk(part)
            elif isinstance(node, list):
                for part in node:
                    walk(part)

        walk(self._ast)
        return found

    # --- tokens --------------------------------------------------------------------------------
    def _tokenize(self, text: str) -> list[tuple[str, Any]]:
        tokens: list[tuple[str, Any]] = []
        for match in _TOKEN.finditer(text.strip()):
            kind = match.lastgroup
            raw = match.group(kind)
            if kind == "bad":
                raise self._error(f"unexpected character {raw!r}")
            if kind == "number":
                tokens.append(("lit", float(raw) if any(c in raw for c in ".eE") else int(raw)))
            elif kind == "string":
                tokens.append(("lit", _unescape(raw)))
            elif kind == "word" and raw in _LITERALS:
                tokens.append(("lit", _LITERALS[raw]))
            elif kind == "word" and raw in _WORD_OPS:
                tokens.append(("op", _WORD_OPS[raw]))
            elif kind == "op" and raw == "|":
                raise self._error("pipes (`|`) are not supported locally")
            else:
                tokens.append((str(kind), raw))
        if not tokens:
            raise ExpressionError("empty expression")
        return tokens

    def _peek(self, offset: int = 0) -> tuple[str, Any] | None:
        position = self._index + offset
        return self._tokens[position] if position < len(self._tokens) else None

    def _take(self, op: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] == op:
            self._index += 1
            return True
        return False

    def _expect(self, op: str) -> None:
        if not self._take(op):
            raise self._error(f"missing {op!r}")

    # --- grammar (expr-lang precedence, lowest first) -----------------------------------------
    def _ternary(self) -> Any:
        condition = self._coalesce()
        if self._take("?"):
            yes = self._ternary()
            self._expect(":")
            no = self._ternary()
            return ("if", condition, yes, no)
        return condition

    def _coalesce(self) -> Any:
        node = self._or()
        while self._take("??"):
            node = ("??", node, self._or())
        return node

    def _or(self) -> Any:
        node = self._and()
        while self._take("||"):
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._comparison()
        while self._take("&&"):
            node = ("and", node, self._comparison())
        return node

    def _comparison(self) -> Any:
        node = self._additive()
        while True:
            token = self._peek()
            if token is None or token[0] != "op":
                return node
            if token[1] in _COMPARISON:
                self._index += 1
                node = ("cmp", token[1], node, self._additive())
            elif token[1] == "!" and self._peek(1) in (("op", "in"), ("op", "matches"), ("op", "contains")):
                op = self._peek(1)[1]  # type: ignore[index]
                self._index += 2
                node = ("not", ("cmp", op, node, self._additive()))
            else:
                return node

    def _additive(self) -> Any:
        node = self._multiplicative()
        while True:
            if self._take("+"):
                node = ("+", node, self._multiplicative())
            elif self._take("-"):
                node = ("-", node, self._multiplicative())
            else:
                return node

    def _multiplicative(self) -> Any:
        node = self._power()
        while True:
            token = self._peek()
            if token is not None and token[0] == "op" and token[1] in ("*", "/", "%"):
                self._index += 1
                node = (token[1], node, self._power())
            else:
                return node

    def _power(self) -> Any:
        node = self._unary()
        if self._take("**"):
            return ("**", node, self._power())
        return node

    def _unary(self) -> Any:
        if self._take("!"):
            return ("not", self._unary())
        if self._take("-"):
            return ("neg", self._unary())
        if self._take("+"):
            return self._unary()
        return self._postfix()

    def _postfix(self) -> Any:
        node = self._primary()
        while True:
            if self._take(".") or self._take("?."):
                optional = self._tokens[self._index - 1][1] == "?."
                token = self._peek()
                if token is None or token[0] not in ("word", "op") or (token[0] == "op" and token[1] not in _WORD_OPS.values()):
                    raise self._error("expected a name after '.'")
                self._index += 1
                if self._take("("):
                    args = self._arguments()
                    node = ("method", node, token[1], args)
                else:
                    node = ("get", node, ("lit", token[1]), optional)
            elif self._take("["):
                key = self._ternary()
                self._expect("]")
                node = ("get", node, key, False)
            else:
                return node

    _in_closure = 0

    def _closure_call(self, name: str) -> Any:
        """map/filter/all/any/none/one/count(list, {predicate with #})."""
        items = self._ternary()
        self._expect(",")
        self._expect("{")
        self._in_closure += 1
        try:
            body = self._ternary()
        finally:
            self._in_closure -= 1
        self._expect("}")
        self._expect(")")
        return ("closure", name, items, body)

    def _arguments(self) -> list[Any]:
        if self._take(")"):
            return []
        args = [self._ternary()]
        while self._take(","):
            args.append(self._ternary())
        self._expect(")")
        return args

    def _primary(self) -> Any:
        token = self._peek()
        if token is None:
            raise self._error("ends too early")
        self._index += 1
        kind, value = token
        if kind == "lit":
            return ("lit", value)
        if kind == "word":
            if value == "sprig" and self._peek() == ("op", "."):
                self._index += 1
                name = self._peek()
                if name is None or name[0] != "word":
                    raise self._error("expected a sprig function name")
                self._index += 1
                self._expect("(")
                if name[1] not in SPRIG:
                    raise self._error(f"sprig.{name[1]} is not supported locally (supported: {', '.join(sorted(SPRIG))})")
                return ("call", f"sprig.{name[1]}", self._arguments())
            if self._take("("):
                if value in CLOSURE_FUNCTIONS:
                    return self._closure_call(value)
                if value not in FUNCTIONS:
                    raise self._error(f"function {value!r} is not supported locally (supported: {', '.join(sorted(FUNCTIONS))})")
                return ("call", value, self._arguments())
            return ("var", value)
        if value == "#":
            if not self._in_closure:
                raise self._error("`#` is only defined inside a closure ({...} argument of map, filter, ...)")
            return ("var", "#")
        if value == "(":
            node = self._ternary()
            self._expect(")")
            return node
        if value == "[":
            items: list[Any] = []
            if not self._take("]"):
                items.append(self._ternary())
                while self._take(","):
                    items.append(self._ternary())
                self._expect("]")
            return ("list", items)
        if value == "{":
            pairs: list[tuple[Any, Any]] = []
            if not self._take("}"):
                while True:
                    key = self._peek()
                    if key is None or key[0] not in ("word", "lit"):
                        raise self._error("expected a map key")
                    self._index += 1
                    self._expect(":")
                    pairs.append((key[1], self._ternary()))
                    if not self._take(","):
                        break
                self._expect("}")
            return ("map", pairs)
        raise self._error(f"unexpected {value!r}")

    # --- evaluation ----------------------------------------------------------------------------
    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return self._eval(self._ast, env)

    def _eval(self, node: Any, env: Mapping[str, Any]) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "var":
            if node[1] not in env:
                raise UnknownName(node[1], self._error(f"unknown name {node[1]!r}"))
            return env[node[1]]
        if kind == "get":
            base = self._eval(node[1], env)
            key = self._eval(node[2], env)
            if base is None:
                if node[3]:
                    return None
                raise self._error(f"cannot fetch {key!r} from nil")
            if isinstance(base, Mapping):
                return base.get(key) if isinstance(key, str) else None
            if isinstance(base, (list, str)) and isinstance(key, int) and not isinstance(key, bool):
                try:
                    return base[key]
                except IndexError:
                    raise self._error(f"index {key} out of range") from None
            raise self._error(f"cannot fetch {key!r} from {type(base).__name__}")
        if kind == "list":
            return [self._eval(item, env) for item in node[1]]
        if kind == "map":
            return {key: self._eval(value, env) for key, value in node[1]}
        if kind == "call":
            args = [self._eval(arg, env) for arg in node[2]]
            function = SPRIG[node[1][6:]] if node[1].startswith("sprig.") else FUNCTIONS[node[1]]
            try:
                return function(*args)
            except ExpressionError:
                raise
            except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
                raise self._error(f"{node[1]}({', '.join(map(repr, args))}): {exc}") from exc
        if kind == "closure":
            items = self._eval(node[2], env)
            if not isinstance(items, list):
                raise self._error(f"{node[1]}() needs a list, got {items!r}")
            values = [self._eval(node[3], {**env, "#": item}) for item in items]
            name = node[1]
            if name == "map":
                return values
            verdicts = [_truth(v, self) for v in values]
            if name == "filter":
                return [item for item, keep in zip(items, verdicts) if keep]
            return {"all": all(verdicts), "any": any(verdicts), "none": not any(verdicts),
                    "one": sum(verdicts) == 1, "count": sum(verdicts)}[name]
        if kind == "method":
            raise self._error(f"method calls ({node[2]}()) are not supported locally")
        if kind == "if":
            return self._eval(node[2] if _truth(self._eval(node[1], env), self) else node[3], env)
        if kind == "??":
            left = self._eval(node[1], env)
            return left if left is not None else self._eval(node[2], env)
        if kind == "not":
            return not _truth(self._eval(node[1], env), self)
        if kind == "neg":
            value = self._eval(node[1], env)
            if not _is_number(value):
                raise self._error(f"cannot negate {value!r}")
            return -value
        if kind == "and":
            return _truth(self._eval(node[1], env), self) and _truth(self._eval(node[2], env), self)
        if kind == "or":
            return _truth(self._eval(node[1], env), self) or _truth(self._eval(node[2], env), self)
        if kind == "cmp":
            return self._compare(node[1], self._eval(node[2], env), self._eval(node[3], env))
        return self._arithmetic(kind, self._eval(node[1], env), self._eval(node[2], env))

    def _compare(self, op: str, left: Any, right: Any) -> bool:
        if op == "in":
            if isinstance(right, Mapping):
                return left in right
            if not isinstance(right, list):
                raise self._error(f"'in' needs a list or map on its right, got {right!r}")
            return any(_equal(left, item) for item in right)
        if op in ("==", "!="):
            return _equal(left, right) if op == "==" else not _equal(left, right)
        if op in ("matches", "contains", "startsWith", "endsWith"):
            if not isinstance(left, str) or not isinstance(right, str):
                raise self._error(f"{op!r} needs strings, got {left!r} and {right!r}")
            if op == "matches":
                return re.search(right, left) is not None
            return {"contains": right in left, "startsWith": left.startswith(right), "endsWith": left.endswith(right)}[op]
        if not ((_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))):
            raise self._error(f"invalid operation: {left!r} {op} {right!r}")
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]

    def _arithmetic(self, op: str, left: Any, right: Any) -> Any:
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        if op == "+" and isinstance(left, list) and isinstance(right, list):
            return left + right
        if not (_is_number(left) and _is_number(right)):
            raise self._error(f"invalid operation: {left!r} {op} {right!r}")
        if op == "/":
            if right == 0:
                raise self._error("division by zero")
            return left / right  # expr-lang's `/` is float division
        if op == "%":
            if not (isinstance(left, int) and isinstance(right, int)):
                raise self._error(f"'%' needs integers, got {left!r} and {right!r}")
            return int(math.fmod(left, right))
        if op == "**":
            return float(left) ** float(right)
        return {"+": left + right, "-": left - right, "*": left * right}[op]


class UnknownName(ExpressionError):
    """A variable that is not in scope (yet): Argo leaves such a tag for a later pass."""

    def __init__(self, name: str, error: ExpressionError) -> None:
        super().__init__(str(error))
        self.name = name


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        return left == right
    return type(left) is type(right) and left == right


def _truth(value: Any, expression: Expression) -> bool:
    if not isinstance(value, bool):
        raise expression._error(f"expected a boolean, got {value!r}")
    return value


# --- functions ---------------------------------------------------------------------------------


def _as_int(value: Any) -> int:
    if _is_number(value):
        return int(value)
    return int(str(value).strip())


def _as_float(value: Any) -> float:
    return float(str(value).strip()) if not _is_number(value) else float(value)


def _to_int(value: Any) -> int:
    if isinstance(value, str):
        return int(float(value.strip()))
    return int(value)


def _json_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)  # Go's encoding/json sorts map keys


def jsonpath(document: Any, path: str) -> Any:
    """Argo's `jsonpath(json, path)`: `$`, `.key`, `['key']`, `[n]`, `[*]` over a JSON string."""
    data = json.loads(document) if isinstance(document, str) else document
    if not path.startswith("$"):
        raise ValueError(f"a JSONPath starts with '$', got {path!r}")
    steps = re.findall(r"\.([A-Za-z0-9_\-]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(-?\d+)\s*\]|\[\s*(\*)\s*\]", path[1:])
    consumed = "".join(m.group(0) for m in re.finditer(r"\.[A-Za-z0-9_\-]+|\[\s*'[^']*'\s*\]|\[\s*\"[^\"]*\"\s*\]|\[\s*-?\d+\s*\]|\[\s*\*\s*\]", path[1:]))
    if consumed != path[1:]:
        raise ValueError(f"JSONPath {path!r} uses syntax not supported locally")
    current: list[Any] = [data]
    wildcard = False
    for key, quoted, dquoted, index, star in steps:
        nxt: list[Any] = []
        for item in current:
            if star:
                wildcard = True
                nxt.extend(item.values() if isinstance(item, dict) else item)
            elif index:
                nxt.append(item[int(index)])
            else:
                nxt.append(item[key or quoted or dquoted])
        current = nxt
    return current if wildcard else current[0]


def _len(value: Any) -> int:
    return len(value)


CLOSURE_FUNCTIONS = ("map", "filter", "all", "any", "none", "one", "count")

FUNCTIONS: dict[str, Callable[..., Any]] = {
    # Argo's own (workflow/common/expression: asInt, asFloat, jsonpath, toJson, string)
    "asInt": _as_int,
    "asFloat": _as_float,
    "jsonpath": jsonpath,
    "toJson": _json_dumps,
    "string": go_string,
    # expr-lang builtins
    "int": _to_int,
    "float": lambda v: float(v),
    "len": _len,
    "abs": abs,
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "trim": lambda s, chars=None: str(s).strip(chars),
    "split": lambda s, sep: str(s).split(sep),
    "join": lambda items, sep="": sep.join(go_string(i) for i in items),
    "toJSON": lambda v: json.dumps(v, indent=2),
    "fromJSON": json.loads,
    "keys": lambda m: list(m.keys()),
    "values": lambda m: list(m.values()),
    "max": lambda *v: max(v[0] if len(v) == 1 else v),
    "min": lambda *v: min(v[0] if len(v) == 1 else v),
}


def _sprig_number(value: Any) -> int | float:
    if _is_number(value):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def _sprig_int(value: Any) -> int:
    try:
        return int(_sprig_number(value))
    except (TypeError, ValueError):
        return 0  # sprig's toInt-style casts yield 0 for what is not a number


def _b64dec(text: str) -> str:
    return base64.b64decode(str(text)).decode()


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False) or (isinstance(value, (list, dict)) and not value)


SPRIG: dict[str, Callable[..., Any]] = {
    # arithmetic: sprig casts to int64
    "add": lambda *v: sum(_sprig_int(x) for x in v),
    "add1": lambda v: _sprig_int(v) + 1,
    "sub": lambda a, b: _sprig_int(a) - _sprig_int(b),
    "mul": lambda *v: math.prod(_sprig_int(x) for x in v),
    "div": lambda a, b: int(_sprig_int(a) / _sprig_int(b)),
    "mod": lambda a, b: int(math.fmod(_sprig_int(a), _sprig_int(b))),
    "max": lambda *v: max(_sprig_int(x) for x in v),
    "min": lambda *v: min(_sprig_int(x) for x in v),
    "int": _sprig_int,
    "int64": _sprig_int,
    "atoi": _sprig_int,
    "float64": lambda v: float(_sprig_number(v)),
    "toString": go_string,
    # strings
    "trim": lambda s: str(s).strip(),
    "trimAll": lambda chars, s: str(s).strip(chars),
    "trimPrefix": lambda prefix, s: str(s)[len(prefix):] if str(s).startswith(prefix) else str(s),
    "trimSuffix": lambda suffix, s: str(s)[: -len(suffix)] if suffix and str(s).endswith(suffix) else str(s),
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
    "replace": lambda old, new, s: str(s).replace(old, new),
    "contains": lambda sub, s: sub in str(s),
    "hasPrefix": lambda prefix, s: str(s).startswith(prefix),
    "hasSuffix": lambda suffix, s: str(s).endswith(suffix),
    "repeat": lambda n, s: str(s) * _sprig_int(n),
    "substr": lambda start, end, s: str(s)[_sprig_int(start):_sprig_int(end)],
    "trunc": lambda n, s: str(s)[: _sprig_int(n)] if _sprig_int(n) >= 0 else str(s)[_sprig_int(n):],
    "quote": lambda *v: " ".join(json.dumps(go_string(x)) for x in v),
    "squote": lambda *v: " ".join(f"'{go_string(x)}'" for x in v),
    "splitList": lambda sep, s: str(s).split(sep),
    "join": lambda sep, items: sep.join(go_string(i) for i in items),
    "b64enc": lambda s: base64.b64encode(str(s).encode()).decode(),
    "b64dec": _b64dec,
    "regexMatch": lambda regex, s: re.search(regex, str(s)) is not None,
    "regexReplaceAll": lambda regex, s, repl: re.sub(regex, repl.replace("$", "\\"), str(s)),
    # values and lists
    "default": lambda fallback, value=None: fallback if _empty(value) else value,
    "empty": _empty,
    "toJson": _json_dumps,
    "fromJson": json.loads,
    "list": lambda *v: list(v),
    "first": lambda items: items[0] if items else None,
    "last": lambda items: items[-1] if items else None,
    "has": lambda needle, items: needle in items,
    "uniq": lambda items: list(dict.fromkeys(items)),
    "sortAlpha": lambda items: sorted(go_string(i) for i in items),
}


def scope_env(scope: Mapping[str, Any]) -> dict[str, Any]:
    """Argo's flat variable map (`tasks.a.outputs.result` -> value) as the nested maps an
    expression reads (`tasks['a'].outputs.result`). A key that is both a value and a prefix of
    longer keys (`workflow.parameters` and `workflow.parameters.x`) keeps the nested map."""
    env: dict[str, Any] = {}
    for key in sorted(scope, key=lambda k: k.count(".")):
        parts = key.split(".")
        target = env
        for part in parts[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        if not isinstance(target.get(parts[-1]), dict):
            target[parts[-1]] = scope[key]
    return env


def evaluate(text: str, scope: Mapping[str, Any]) -> Any:
    return Expression(text).evaluate(scope_env(scope))
