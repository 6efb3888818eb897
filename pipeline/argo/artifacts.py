"""Key-only S3 artifacts against a local directory standing in for the artifact repository that
`artifactRepositoryRef` names on the cluster: key `a/b/model.tgz` is the file
`<artifact root>/a/b/model.tgz`.

Archives follow Argo: by default an output is stored as a gzipped tarball holding one top-level
entry (the file or directory); `archive: {none: {}}` stores a file as is and a directory as a
tree of keys. An input that is a tarball is unpacked to the input's path; anything else is
copied there.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any


class ArtifactError(RuntimeError):
    """An artifact that cannot be stored or fetched; the message names it."""


def resolve_key(root: Path, key: str) -> Path:
    """The file for a key; refuses keys that would escape the root."""
    clean = PurePosixPath(key.lstrip("/"))
    if not key.strip("/") or ".." in clean.parts:
        raise ArtifactError(f"invalid artifact key {key!r}")
    return root.joinpath(*clean.parts)


def default_key(workflow_name: str, pod_name: str, artifact: dict[str, Any]) -> str:
    """Argo's default repository key format `{{workflow.name}}/{{pod.name}}/<name>.tgz`."""
    suffix = "" if "none" in (artifact.get("archive") or {}) else ".tgz"
    return f"{workflow_name}/{pod_name}/{artifact['name']}{suffix}"


def save(source: Path, root: Path, key: str, archive: dict[str, Any] | None) -> None:
    target = resolve_key(root, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    if archive and "none" in archive:
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        return
    level = int(((archive or {}).get("tar") or {}).get("compressionLevel", 6))
    # Write next to the target and rename: a concurrent reader never sees half a tarball.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    os.close(fd)
    try:
        with gzip.open(tmp, "wb", compresslevel=level) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
            tar.add(source, arcname=source.name)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(root: Path, key: str, destination: Path, mode: int | None = None, sub_path: str | None = None) -> None:
    """Fetch an artifact to `destination`; with `sub_path`, only that entry of it (Argo's
    argument `subPath`), after unpacking."""
    source = resolve_key(root, key)
    if not source.exists():
        raise ArtifactError(f"artifact key {key!r} not found under {root}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if sub_path:
        parts = PurePosixPath(sub_path.strip("/")).parts
        if not parts or ".." in parts:
            raise ArtifactError(f"invalid subPath {sub_path!r}")
        with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".subpath-") as scratch:
            whole = Path(scratch) / "whole"
            load(root, key, whole)
            picked = whole.joinpath(*parts)
            if not picked.exists():
                raise ArtifactError(f"artifact key {key!r} has no entry {sub_path!r}")
            shutil.move(str(picked), destination)
        if mode is not None:
            os.chmod(destination, mode)
        return
    if source.is_dir():
        shutil.copytree(source, destination, dirs_exist_ok=True)
    elif _is_tarball(source):
        _untar(source, destination)
    else:
        shutil.copy2(source, destination)
    if mode is not None:
        os.chmod(destination, mode)


def write_raw(data: str, destination: Path, mode: int | None = None) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(data)
    if mode is not None:
        os.chmod(destination, mode)


def _is_tarball(path: Path) -> bool:
    try:
        with tarfile.open(path, "r:*"):
            return True
    except (tarfile.TarError, OSError, EOFError):
        return False


def _untar(archive: Path, destination: Path) -> None:
    """Unpack; a single top-level entry becomes `destination` itself (Argo's behaviour)."""
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".unpack-") as scratch:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(scratch, filter="data")
        entries = list(Path(scratch).iterdir())
        if len(entries) == 1:
            if destination.exists():
                shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
            shutil.move(str(entries[0]), destination)
        else:
            destination.mkdir(parents=True, exist_ok=True)
            for entry in entries:
                shutil.move(str(entry), destination / entry.name)
