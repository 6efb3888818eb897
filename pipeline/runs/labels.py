"""Kubernetes labels and label selectors: parsing, validation and matching.

A cluster matches selectors itself; the local backend (and the checks before a request) need the
same grammar: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma-separated
(all must hold), as `kubectl -l` and `argo list -l` take them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.errors import ConfigError

# A qualified name: optional DNS-subdomain prefix and '/', then ≤ 63 of [A-Za-z0-9-_.], alphanumeric ends.
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_SET = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")


def check_key(key: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if not _NAME.match(name) or (slash and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix))):
        raise ConfigError(f"invalid label key {key!r}: a name of ≤ 63 letters, digits, '-', '_', '.', optionally prefixed by a DNS domain and '/'")
    return key


def check_value(key: str, value: str) -> str:
    if not _VALUE.match(value):
        raise ConfigError(f"invalid value {value!r} for label {key}: ≤ 63 letters, digits, '-', '_', '.', starting and ending alphanumeric")
    return value


def parse_labels(text: str) -> dict[str, str]:
    """`k=v,k2=v2` (as `argo submit -l`) → a checked mapping."""
    labels: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"labels must be NAME=VALUE[,NAME=VALUE…], got {part!r}")
        labels[check_key(key.strip())] = check_value(key.strip(), value.strip())
    return labels


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "exists", "!exists", "in", "notin"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return value == self.values[0]
        if self.op == "!=":
            return value != self.values[0]  # an absent label is "not equal", as Kubernetes has it
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and value in self.values
        return value not in self.values  # notin: absent labels match too


def _split(text: str) -> list[str]:
    """Top-level commas only: `k in (a,b),x=y` → [`k in (a,b)`, `x=y`]."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_selector(text: str | None) -> list[Requirement]:
    requirements = []
    for part in _split(text or ""):
        match = _SET.match(part)
        if match:
            values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
            key = check_key(match["key"])
            requirements.append(Requirement(key, match["op"], tuple(check_value(key, v) for v in values)))
            continue
        for op in ("!=", "==", "="):
            if op in part:
                key, _, value = part.partition(op)
                key, value = check_key(key.strip()), value.strip()
                requirements.append(Requirement(key, "!=" if op == "!=" else "=", (check_value(key, value),)))
                break
        else:
            if part.startswith("!"):
                requirements.append(Requirement(check_key(part[1:].strip()), "!exists"))
            else:
                requirements.append(Requirement(check_key(part), "exists"))
    return requirements


def matches(requirements: list[Requirement], labels: dict[str, str]) -> bool:
    return all(r.matches(labels) for r in requirements)
