"""Render jobs that arrive as files (drop-folder job files, batch manifests): read them safely.

A job file has the form's schema (`tasks.spec.RenderSpec`), as YAML or JSON. Its inputs are
s3:// URIs or paths relative to the file's own folder; nothing may point outside the bucket or
at the worker's disk.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from typing import Any

import yaml

from tasks.allowlist import BucketAllowList
from tasks.spec import RenderSpec, SpecError, hide_userinfo

JOB_SUFFIXES = (".json", ".yaml", ".yml")
MAX_JOB_BYTES = 256 * 1024
MAX_JOB_VALUES = 10_000  # values in a parsed job or manifest, aliases counted each time
MAX_JOB_DEPTH = 32
FACE_FILES = ("source", "reference")  # a face's fields that name files (not select, consent)
# More rules on a job's raw settings (recast_airflow.render.conf_problems): problems found.
Checks = Callable[[dict[str, Any]], list[str]]


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
    """YAML or JSON by suffix; size-capped, safe loader only, bounded in nesting and size."""
    if len(data) > MAX_JOB_BYTES:
        raise SpecError(f"{name}: larger than {MAX_JOB_BYTES} bytes")
    kind = "JSON" if name.endswith(".json") else "YAML"
    try:
        doc = json.loads(data) if name.endswith(".json") else yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(f"{name}: not valid {kind}: {reason}") from exc
    except RecursionError as exc:  # [[[[...]]]]: a parser's stack, not a job
        raise SpecError(f"{name}: not valid {kind}: nested too deeply") from exc
    if _too_big(doc):
        raise SpecError(
            f"{name}: more than {MAX_JOB_VALUES} values or {MAX_JOB_DEPTH} levels "
            "(YAML aliases expanding?)"
        )
    return doc


def _too_big(doc: Any) -> bool:
    """Walks at most MAX_JOB_VALUES nodes: a YAML alias bomb is refused, not expanded."""
    budget = MAX_JOB_VALUES
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0 or depth > MAX_JOB_DEPTH:
            return True
        if isinstance(node, dict):
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, depth + 1) for v in node]
    return False


def _resolve(value: Any, folder: str, what: str, problems: list[str]) -> Any:
    """An input given relative to the job file becomes an s3:// URI beside it."""
    if not isinstance(value, str) or value.startswith("s3://"):
        return value
    reason = unsafe_key(value)
    if reason or "://" in value:
        shown = hide_userinfo(value)
        problems.append(f"{what} {shown!r}: {reason or 'only s3:// URIs'}; refused")
        return value
    return posixpath.join(folder, value)


def resolve_paths(raw: Any, folder: str) -> tuple[dict[str, Any], list[str]]:
    """A job's settings with its relative inputs joined to `folder` (an s3:// prefix, or the
    job file's local folder for `recast render --spec`), and the paths refused."""
    if not isinstance(raw, dict):
        found = "nothing" if raw is None else f"a {type(raw).__name__}"
        raise SpecError(f"a job must be a mapping of render settings, not {found}")
    conf = dict(raw)
    problems: list[str] = []
    if "asset" in conf:
        conf["asset"] = _resolve(conf["asset"], folder, "asset", problems)
    faces = conf.get("faces")
    if isinstance(faces, list):
        conf["faces"] = [
            {
                k: _resolve(v, folder, f"faces.{i}.{k}", problems) if k in FACE_FILES else v
                for k, v in face.items()
            }
            if isinstance(face, dict)
            else face
            for i, face in enumerate(faces)
        ]
    return conf, problems


def spec_problems(
    conf: dict[str, Any], refused: list[str], checks: Checks | None = None
) -> tuple[RenderSpec | None, list[str]]:
    """The spec and every problem: `refused` (paths), the schema's, and `checks(conf)`'s."""
    problems = list(refused)
    named = {p.split(" ", 1)[0] for p in refused}  # named once, not again by the schema
    spec: RenderSpec | None = None
    try:
        spec = RenderSpec.parse(conf)
    except SpecError as exc:
        problems += [p for p in exc.problems if p.split(":", 1)[0] not in named]
    if checks is not None:
        problems += [p for p in checks(conf) if p not in problems]
    return spec, problems


def resolve_spec(
    raw: Any,
    folder: str,
    allowed: BucketAllowList | None = None,
    checks: Checks | None = None,
) -> dict[str, Any]:
    """The validated spec of a job file in `folder` (an s3:// prefix), as form conf.

    Every problem is listed in the SpecError: bad paths, each schema error (field path and
    message), what `checks` finds (the deployment's rules: tier, restoration, consent) and
    buckets outside `allowed`.
    """
    conf, refused = resolve_paths(raw, folder)
    spec, problems = spec_problems(conf, refused, checks)
    if spec is not None and allowed is not None:
        problems += allowed.problems(spec.inputs())
    if problems or spec is None:
        raise SpecError("; ".join(problems), problems)
    return spec.model_dump(mode="json")
