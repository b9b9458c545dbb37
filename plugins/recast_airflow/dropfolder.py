"""The S3 drop folder: a job file dropped under `<drop>/incoming/` starts one render.

    <drop>/incoming/NAME.yaml   the job (the form's schema; inputs as s3:// or relative paths)
    <drop>/claims/ID.json       who took which job: created with If-None-Match, so of two
                                pollers that see the same drop, exactly one wins
    <drop>/claims/ID.job        the job's bytes as claimed (what is moved at the end)
    <drop>/processed/NAME.yaml  + NAME.yaml.result.json: the render and where it was published
    <drop>/failed/NAME.yaml     + NAME.yaml.result.json: the reason

The claim ID hashes the job's name and bytes: the same job dropped again after it was rendered
is refused as a duplicate (moved to failed/, naming the first render); a changed job, or the
same one under another name, renders again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from recast_airflow.jobs import JOB_SUFFIXES, parse_document, resolve_spec, unsafe_key
from tasks import storage
from tasks.layout import delivery_prefix, safe_run_id
from tasks.spec import SpecError

log = logging.getLogger(__name__)
RENDER_DAG = "recast_render"


@dataclass(frozen=True)
class DropFolder:
    uri: str  # s3://bucket/prefix

    def _key(self, *parts: str) -> tuple[str, str]:
        return storage.split_uri(storage.join(self.uri, *parts))

    def incoming(self) -> list[str]:
        """Names (relative to incoming/) of the job files waiting, oldest first."""
        bucket, prefix = self._key("incoming", "")
        pages = storage.client().get_paginator("list_objects_v2")
        found = []
        for page in pages.paginate(Bucket=bucket, Prefix=prefix):
            found += [(o["LastModified"], o["Key"]) for o in page.get("Contents", [])]
        names = [key[len(prefix) :] for _, key in sorted(found)]
        return [n for n in names if n.lower().endswith(JOB_SUFFIXES)]

    def claim_all(self, work_uri: str) -> list[dict[str, Any]]:
        """Claim every unclaimed job; refuse (to failed/) the ones that cannot render."""
        claims = []
        for name in self.incoming():
            claim = self.claim(name, work_uri)
            if claim:
                claims.append(claim)
        return claims

    def claim(self, name: str, work_uri: str) -> dict[str, Any] | None:
        """The claim for the render, or None (taken by another poller, refused, duplicate)."""
        reason = unsafe_key(name)
        if reason:
            self._refuse_unsafe(name, reason)
            return None
        bucket, key = self._key("incoming", name)
        try:
            obj = storage.client().get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None  # moved by the poller that claimed it
            raise
        data, etag = obj["Body"].read(), obj["ETag"]
        claim_id = hashlib.sha256(name.encode() + b"\0" + data).hexdigest()[:16]
        record = {"claim": claim_id, "name": name, "etag": etag, "status": "claimed"}
        record |= {"run_id": f"drop__{claim_id}", "claimed_at": time.time()}
        if not self._create_claim(claim_id, record):
            self._if_duplicate(name, etag, claim_id, data)
            return None
        storage.write_bytes(self._claim_uri(claim_id, "job"), data)
        try:
            folder = posixpath.dirname(storage.join(self.uri, "incoming", name))
            conf = resolve_spec(parse_document(data, name), folder)
        except SpecError as exc:
            self.finish(record, "failed", str(exc))
            return None
        published = delivery_prefix(
            work_uri, conf["output_prefix"], conf["asset"], record["run_id"]
        )
        return {**record, "conf": conf, "film": storage.join(published, "film.mp4")}

    def _create_claim(self, claim_id: str, record: dict[str, Any]) -> bool:
        bucket, key = self._key("claims", f"{claim_id}.json")
        try:
            storage.client().put_object(
                Bucket=bucket, Key=key, Body=json.dumps(record).encode(), IfNoneMatch="*"
            )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def _claim_uri(self, claim_id: str, suffix: str) -> str:
        return storage.join(self.uri, "claims", f"{claim_id}.{suffix}")

    def _if_duplicate(self, name: str, etag: str, claim_id: str, data: bytes) -> None:
        """A finished claim with its job back in incoming/: the same job dropped again."""
        first = storage.read_json(self._claim_uri(claim_id, "json"))
        if first["status"] == "claimed":
            return  # being rendered by the poller that holds the claim
        reason = (
            f"duplicate: this job was already taken by {first['run_id']} "
            f"({first['status']}); change it or rename it to render again"
        )
        result = {"status": "failed", "reason": reason, **_ids(first)}
        self._move(name, etag, data, result)

    def _refuse_unsafe(self, name: str, reason: str) -> None:
        """Moved aside under a safe name: the original key cannot be trusted in a path."""
        log.warning("refusing drop-folder key %r: %s", name, reason)
        safe = safe_run_id(name.replace("/", "_"))
        bucket, key = self._key("incoming", name)
        failed = storage.join(self.uri, "failed", f"{safe}.result.json")
        storage.write_json(failed, {"status": "failed", "reason": f"refused key: {reason}"})
        storage.client().delete_object(Bucket=bucket, Key=key)

    def finish(self, claim: dict[str, Any], status: str, reason: str = "", film: str = "") -> str:
        """Move the job to processed/ or failed/ with its result; close the claim."""
        result = {"status": status, "reason": reason, "film": film or None, **_ids(claim)}
        data = storage.read_bytes(self._claim_uri(claim["claim"], "job"))
        where = self._move(claim["name"], claim["etag"], data, result)
        closed = {**{k: v for k, v in claim.items() if k not in ("conf", "film")}, **result}
        storage.write_json(self._claim_uri(claim["claim"], "json"), closed)
        return where

    def _move(self, name: str, etag: str, data: bytes, result: dict[str, Any]) -> str:
        """The job as it was claimed, to processed/ or failed/, with its result beside it."""
        folder = "processed" if result["status"] == "success" else "failed"
        moved = storage.join(self.uri, folder, name)
        storage.write_bytes(moved, data)
        storage.write_json(f"{moved}.result.json", result)
        # Only the job that was claimed: a new job dropped under the same name stays.
        bucket, src = self._key("incoming", name)
        client = storage.client()
        try:
            if client.head_object(Bucket=bucket, Key=src)["ETag"] == etag:
                client.delete_object(Bucket=bucket, Key=src)
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise
        return moved


def _ids(claim: dict[str, Any]) -> dict[str, Any]:
    return {"claim": claim["claim"], "run_id": claim["run_id"], "job": claim["name"]}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def trigger_kwargs(claim: dict[str, Any]) -> dict[str, Any]:
    """The render of one claim (for XComArg.map): a run ID fixed by the claim, so never twice."""
    return {"trigger_run_id": claim["run_id"], "conf": claim["conf"]}


def run_outcome(ti: Any, dag_id: str, run_id: str) -> tuple[str, str]:
    """(state, reason) of a render run, asked of Airflow by a task (`ti`: its task instance)."""
    from recast_airflow.failures import render_failure

    try:
        found = ti.get_dagrun_state(dag_id, run_id)
        state = str(getattr(found, "value", found))  # a DagRunState enum, or its value
    except Exception as exc:  # the trigger itself failed: no such run
        return "missing", f"render {run_id} was not started: {exc}"
    if state == "success":
        return state, ""
    return state, render_failure(run_id) or f"render {run_id} ended {state}"


def finish_render(ti: Any, drop_uri: str, claim: dict[str, Any]) -> str:
    """After the claim's render: the job to processed/ or failed/, with the reason."""
    state, reason = run_outcome(ti, RENDER_DAG, claim["run_id"])
    film = claim["film"] if state == "success" else ""
    return DropFolder(drop_uri).finish(
        claim, state if state == "success" else "failed", reason, film
    )
