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

A claim records its render's run ID and the poll run that took it. That poll moves the job
when the render ends; if it died first, a later scan settles the claim once the claim is older
than the lease (RECAST_DROP_CLAIM_LEASE seconds), the poll run is over and the render has ended
or never existed: the job goes where the render's outcome says (processed/, or failed/ with the
reason). A render still running is left alone, and nothing is re-rendered by itself: as for any
failed render, the job is dropped again, changed or renamed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from recast_airflow.config import Settings
from recast_airflow.jobs import (
    JOB_SUFFIXES,
    MAX_JOB_BYTES,
    parse_document,
    resolve_spec,
    unsafe_key,
)
from recast_airflow.render import conf_problems
from tasks import storage
from tasks.allowlist import BucketAllowList
from tasks.layout import delivery_prefix
from tasks.spec import SpecError

log = logging.getLogger(__name__)
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
RENDER_DAG = "recast_render"
POLL_DAG = "recast_dropfolder"
LEASE_ENV = "RECAST_DROP_CLAIM_LEASE"
# Seconds a claim is left to the poll that took it before a scan may settle it; a safety margin
# for a poll run whose state Airflow has not recorded yet (the check that matters is its state).
DEFAULT_LEASE = 1800.0
ENDED = ("success", "failed", "missing")  # run states after which nobody will move the job
# (state, reason) of a DAG run: (dag_id, run_id) -> see run_outcome.
Outcome = Callable[[str, str], tuple[str, str]]


def _lease_from_env() -> float:
    return float(os.environ.get(LEASE_ENV, DEFAULT_LEASE))


@dataclass(frozen=True)
class DropFolder:
    uri: str  # s3://bucket/prefix
    # Buckets a job may name; None: RECAST_ALLOWED_BUCKETS, else the work and drop buckets.
    allowed: BucketAllowList | None = None
    lease: float = field(default_factory=_lease_from_env)
    # The deployment whose rules a job must meet (tier, restoration, consent): those of the
    # render it would trigger; None: from the environment, as the render DAG reads them.
    settings: Settings | None = None

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

    def claim_all(
        self, work_uri: str, outcome: Outcome | None = None, poll_run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Claim every unclaimed job; refuse (to failed/) the ones that cannot render.

        `outcome` (how to ask for a run's state, to settle the claims of dead polls) and
        `poll_run_id` (this poll's run, recorded in its claims): default, from the Airflow task
        this runs in.
        """
        claims = []
        poll_run_id = poll_run_id or _current_run_id()
        for name in self.incoming():
            claim = self.claim(name, work_uri, outcome or current_outcome, poll_run_id)
            if claim:
                claims.append(claim)
        return claims

    def claim(
        self,
        name: str,
        work_uri: str,
        outcome: Outcome | None = None,
        poll_run_id: str | None = None,
    ) -> dict[str, Any] | None:
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
        etag, size = obj["ETag"], int(obj.get("ContentLength", 0))
        if size > MAX_JOB_BYTES:  # not read, not copied into a claim: moved aside as it is
            obj["Body"].close()
            self._refuse_oversize(name, etag, size)
            return None
        data = obj["Body"].read(MAX_JOB_BYTES + 1)
        claim_id = hashlib.sha256(name.encode() + b"\0" + data).hexdigest()[:16]
        record = {"claim": claim_id, "name": name, "etag": etag, "status": "claimed"}
        record |= {"run_id": f"drop__{claim_id}", "claimed_at": time.time()}
        record |= {"poll_run_id": poll_run_id}
        if not self._create_claim(claim_id, record):
            self._if_duplicate(name, etag, claim_id, data, outcome or current_outcome)
            return None
        storage.write_bytes(self._claim_uri(claim_id, "job"), data)
        try:
            folder = posixpath.dirname(storage.join(self.uri, "incoming", name))
            allowed = self.allowed or BucketAllowList.from_env((work_uri, self.uri))
            settings = self.settings or Settings.from_env()
            checks = functools.partial(conf_problems, settings=settings)
            conf = resolve_spec(parse_document(data, name), folder, allowed, checks)
        except SpecError as exc:
            self.finish(record, "failed", str(exc), problems=exc.problems)
            return None
        published = delivery_prefix(
            work_uri, conf["output_prefix"], conf["asset"], record["run_id"]
        )
        record["film"] = storage.join(published, "film.mp4")
        storage.write_json(self._claim_uri(claim_id, "json"), record)  # for a scan to settle
        return {**record, "conf": conf}

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

    def _if_duplicate(
        self, name: str, etag: str, claim_id: str, data: bytes, outcome: Outcome
    ) -> None:
        """A finished claim with its job back in incoming/: the same job dropped again."""
        first = storage.read_json(self._claim_uri(claim_id, "json"))
        if first["status"] == "claimed":
            self._settle_if_stale(first, outcome)  # else rendered by the poll that holds it
            return
        reason = (
            f"duplicate: this job was already taken by {first['run_id']} "
            f"({first['status']}); change it or rename it to render again"
        )
        result = {"status": "failed", "reason": reason, **_ids(first)}
        self._move(name, etag, data, result)

    def _settle_if_stale(self, claim: dict[str, Any], outcome: Outcome) -> None:
        """A claim past its lease, its poll over, its render ended or never started: settle."""
        age = time.time() - float(claim.get("claimed_at", 0.0))
        if age < self.lease:
            return  # the poll that took it may still be triggering or waiting for the render
        if claim.get("poll_run_id"):
            poll, _ = outcome(POLL_DAG, claim["poll_run_id"])
            if poll not in ENDED:
                return  # alive (or unknown): its own finish moves the job
        state, reason = outcome(RENDER_DAG, claim["run_id"])
        if state not in ENDED:
            return  # running, queued, or unknown (Airflow did not answer): ask again later
        log.warning("settling the claim of %r, %.0fs old: render %s", claim["name"], age, state)
        if state == "success":  # published; only the move was lost
            self.finish(claim, "success", film=claim.get("film", ""))
            return
        reason = f"claim expired after {age:.0f}s, the poll that took it is gone: {reason}"
        self.finish(claim, "failed", reason)

    def _refuse_unsafe(self, name: str, reason: str) -> None:
        """Moved aside under a safe name: the original key cannot be trusted in a path."""
        log.warning("refusing drop-folder key %r: %s", name, reason)
        # The raw key (join() would tidy `//` away and miss it); a hash keeps names apart
        # that clean to the same thing (job\x1b.yaml, job\x7f.yaml).
        bucket, prefix = self._key("incoming", "")
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        safe = _UNSAFE_CHARS.sub("-", name.replace("/", "_")).strip("-.")[:100] or "job"
        failed = storage.join(self.uri, "failed", f"{safe}-{digest}.result.json")
        result = {"status": "failed", "reason": f"refused key: {reason}", "key": name}
        storage.write_json(failed, result)
        storage.client().delete_object(Bucket=bucket, Key=prefix + name)

    def _refuse_oversize(self, name: str, etag: str, size: int) -> None:
        reason = f"{name}: {size} bytes, larger than {MAX_JOB_BYTES} bytes; not read"
        log.warning("refusing drop-folder job %r: %s", name, reason)
        result = {"status": "failed", "reason": reason, "film": None, "job": name}
        result["problems"] = [reason]
        try:
            self._move(name, etag, None, result)
        except ClientError as exc:  # moved (or replaced) meanwhile, by another poller or a user
            if _code(exc) not in ("404", "NoSuchKey", "412", "PreconditionFailed"):
                raise

    def finish(
        self,
        claim: dict[str, Any],
        status: str,
        reason: str = "",
        film: str = "",
        problems: list[str] | None = None,
    ) -> str:
        """Move the job to processed/ or failed/ with its result; close the claim.

        `problems`: every reason a job was refused (each schema error), listed in the result.
        """
        result = {"status": status, "reason": reason, "film": film or None, **_ids(claim)}
        if problems:
            result["problems"] = problems
        data = storage.read_bytes(self._claim_uri(claim["claim"], "job"))
        where = self._move(claim["name"], claim["etag"], data, result)
        closed = {**{k: v for k, v in claim.items() if k not in ("conf", "film")}, **result}
        storage.write_json(self._claim_uri(claim["claim"], "json"), closed)
        return where

    def _move(self, name: str, etag: str, data: bytes | None, result: dict[str, Any]) -> str:
        """The job as it was claimed, to processed/ or failed/, with its result beside it.

        `data` None: the object is copied within the store (a job too big to read).
        """
        folder = "processed" if result["status"] == "success" else "failed"
        moved = storage.join(self.uri, folder, name)
        bucket, src = self._key("incoming", name)
        client = storage.client()
        if data is None:
            dst_bucket, dst = storage.split_uri(moved)
            client.copy_object(
                Bucket=dst_bucket,
                Key=dst,
                CopySource={"Bucket": bucket, "Key": src},
                CopySourceIfMatch=etag,
            )
        else:
            storage.write_bytes(moved, data)
        storage.write_json(f"{moved}.result.json", result)
        # Only the job that was claimed: a new job dropped under the same name stays.
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
    """(state, reason) of a run, asked of Airflow by a task (`ti`: its task instance).

    "missing": Airflow has no such run (the trigger failed, or it was deleted); "unknown":
    Airflow did not answer.
    """
    from recast_airflow.failures import render_failure

    try:
        found = ti.get_dagrun_state(dag_id, run_id)
        state = str(getattr(found, "value", found))  # a DagRunState enum, or its value
    except Exception as exc:
        if _not_found(exc):
            return "missing", f"{dag_id} run {run_id} does not exist (never started or deleted)"
        return "unknown", f"state of {dag_id} run {run_id} unknown: {exc}"
    if state == "success":
        return state, ""
    if dag_id != RENDER_DAG:
        return state, f"{dag_id} run {run_id} is {state}"
    return state, render_failure(run_id) or f"render {run_id} ended {state}"


def _not_found(exc: Exception) -> bool:
    """The Execution API's 404, as the task SDK relays it (AirflowRuntimeError.error.detail)."""
    detail = getattr(getattr(exc, "error", None), "detail", None) or {}
    return isinstance(detail, dict) and detail.get("status_code") == 404


def current_outcome(dag_id: str, run_id: str) -> tuple[str, str]:
    """run_outcome, from within the running Airflow task."""
    from airflow.sdk import get_current_context

    return run_outcome(get_current_context()["ti"], dag_id, run_id)


def _current_run_id() -> str | None:
    """The run of the Airflow task this runs in; None outside one."""
    from airflow.sdk import get_current_context

    try:
        return str(get_current_context()["run_id"])
    except RuntimeError:
        return None


def finish_render(ti: Any, drop_uri: str, claim: dict[str, Any]) -> str:
    """After the claim's render: the job to processed/ or failed/, with the reason."""
    state, reason = run_outcome(ti, RENDER_DAG, claim["run_id"])
    film = claim["film"] if state == "success" else ""
    return DropFolder(drop_uri).finish(
        claim, state if state == "success" else "failed", reason, film
    )
