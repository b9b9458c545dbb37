"""Render jobs that arrive as files (drop-folder job files, batch manifests): read them safely.

A job file has the form's schema (`tasks.spec.RenderSpec`), as YAML or JSON. Its inputs are
s3:// URIs or paths relative to the file's own folder; nothing may point outside the bucket or
at the worker's disk.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

import yaml

from tasks.spec import RenderSpec, SpecError

JOB_SUFFIXES = (".json", ".yaml", ".yml")
MAX_JOB_BYTES = 256 * 1024


def unsafe_key(key: str) -> str | None:
    """Why an S3 key (or a relative input path) is refused, or None when it is safe."""
    if not key:
        return "empty key"
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return "control characters in the key"
    if key.startswith("/") or "\\" in key:
        return "absolute path or backslash in the key"
    if ".." in key.split("/"):
        return "'..' in the key"
    return None


def parse_document(data: bytes, name: str) -> Any:
    """YAML or JSON by suffix; size-capped, safe loader only."""
    if len(data) > MAX_JOB_BYTES:
        raise SpecError(f"{name}: larger than {MAX_JOB_BYTES} bytes")
    try:
        return json.loads(data) if name.endswith(".json") else yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "JSON" if name.endswith(".json") else "YAML"
        raise SpecError(f"{name}: not valid {kind}: {reason}") from exc


def _resolve(value: Any, folder: str, what: str) -> Any:
    """An input given relative to the job file becomes an s3:// URI beside it."""
    if not isinstance(value, str) or value.startswith("s3://"):
        return value
    reason = unsafe_key(value)
    if reason or "://" in value:
        raise SpecError(f"{what} {value!r}: {reason or 'only s3:// URIs'}; refused")
    return posixpath.join(folder, value)


def resolve_spec(raw: Any, folder: str) -> dict[str, Any]:
    """The validated spec of a job file in `folder` (an s3:// prefix), as form conf."""
    if not isinstance(raw, dict):
        raise SpecError("a job must be a mapping of render settings")
    conf = dict(raw)
    conf["asset"] = _resolve(conf.get("asset"), folder, "asset")
    faces = conf.get("faces")
    if isinstance(faces, list):
        conf["faces"] = [
            {k: _resolve(v, folder, f"face {i} {k}") for k, v in face.items()}
            if isinstance(face, dict)
            else face
            for i, face in enumerate(faces, start=1)
        ]
    return RenderSpec.parse(conf).model_dump(mode="json")
