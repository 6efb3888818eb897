"""Where an artifact came from: code revision and library versions, recorded in metadata."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path


@lru_cache(maxsize=1)
def git_revision() -> str:
    """$COGNIVERSE_GIT_REVISION (baked into images), else the checkout's HEAD, else 'unknown'."""
    if os.environ.get("COGNIVERSE_GIT_REVISION"):
        return os.environ["COGNIVERSE_GIT_REVISION"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions(*names: str) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
