"""The S3 drop folder end to end, under a real Airflow (standalone: scheduler, triggerer, ...)
with the local backend and the embedded S3 server.

A job dropped once and seen by two polls renders once and is moved to processed/; dropped
again, it starts nothing and lands in failed/ as a duplicate. A claim left by a poll that died
before its render was triggered is settled by the next poll, from what Airflow says of both
runs (neither exists)."""

from __future__ import annotations

from typing import Any

import pytest

from recast.up import BUCKET, Stack

pytestmark = pytest.mark.e2e

JOB = """\
asset: film.mp4
faces:
  - source: faces/source.png
tier: spot
consent_reference: REL-E2E-1
deliveries: [review, shots]
plate_format: dpx
handles: 4
"""
DROP = f"s3://{BUCKET}/dropfolder"


def _keys(s3: Any, prefix: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _drop_job(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="dropfolder/incoming/show/job.yaml", Body=JOB.encode())


def _poll_twice(stack: Stack) -> list[str]:
    """Two polls that both see the drop, as overlapping scheduled runs would."""
    runs = [stack.trigger("recast_dropfolder"), stack.trigger("recast_dropfolder")]
    return [stack.wait_for_run("recast_dropfolder", run, timeout=420) for run in runs]


def _render_runs(stack: Stack) -> list[dict[str, Any]]:
    return [r for r in stack.runs("recast_render") if r["dag_run_id"].startswith("drop__")]


def test_a_drop_renders_once_and_a_second_drop_does_nothing(stack: Stack) -> None:
    s3 = stack.s3_client()
    for dag_id in ("recast_render", "recast_dropfolder"):
        stack.wait_for_dag(dag_id)
    # The asset and the faces first, the job file last (it is what the poll looks for).
    s3.copy_object(
        Bucket=BUCKET,
        Key="dropfolder/incoming/show/film.mp4",
        CopySource={"Bucket": BUCKET, "Key": "inputs/demo.mp4"},
    )
    s3.copy_object(
        Bucket=BUCKET,
        Key="dropfolder/incoming/show/faces/source.png",
        CopySource={"Bucket": BUCKET, "Key": "faces/source.png"},
    )
    _drop_job(s3)

    assert _poll_twice(stack) == ["success", "success"]
    (render,) = _render_runs(stack)
    assert render["state"] == "success"
    assert render["conf"]["asset"] == f"{DROP}/incoming/show/film.mp4"
    assert render["conf"]["consent_reference"] == "REL-E2E-1"
    assert "dropfolder/incoming/show/job.yaml" not in _keys(s3, "dropfolder/incoming/")
    result = _json(s3, "dropfolder/processed/show/job.yaml.result.json")
    assert result["status"] == "success" and result["run_id"] == render["dag_run_id"]
    film_key = result["film"].removeprefix(f"s3://{BUCKET}/")
    assert s3.head_object(Bucket=BUCKET, Key=film_key)["ContentLength"] > 1000
    _assert_shots_published(s3, result["film"].rsplit("/", 1)[0])
    # The units ran in the pool of the tier the job chose.
    pools = _unit_pools(stack, render["dag_run_id"])
    assert pools == {"recast_gpu_spot"}

    _drop_job(s3)  # the very same job, again
    again = stack.trigger("recast_dropfolder")
    assert stack.wait_for_run("recast_dropfolder", again, timeout=120) == "success"
    assert len(_render_runs(stack)) == 1
    duplicate = _json(s3, "dropfolder/failed/show/job.yaml.result.json")
    assert duplicate["reason"].startswith(
        f"duplicate: this job was already taken by {render['dag_run_id']}"
    )
    assert "dropfolder/incoming/show/job.yaml" not in _keys(s3, "dropfolder/incoming/")


def _json(s3: Any, key: str) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return data


def _assert_shots_published(s3: Any, destination: str) -> None:
    """The job's `shots` delivery: a DPX clip for every shot with a replaced face, the
    conform timeline and EDL beside the film."""
    prefix = destination.removeprefix(f"s3://{BUCKET}/")
    manifest = _json(s3, f"{prefix}/shots.json")
    qc = _json(s3, f"{prefix}/qc.json")
    replaced = {row["shot"] for row in qc["per_shot"] if row["faces_swapped"]}
    assert replaced and {clip["shot"] for clip in manifest["clips"]} == replaced
    assert all(clip["plate_format"] == "dpx" for clip in manifest["clips"])
    published = set(_keys(s3, f"{prefix}/"))
    assert {f"{prefix}/{f}" for f in manifest["files"]} <= published
    assert {f"{prefix}/timeline.otio", f"{prefix}/conform.edl"} <= published


def _unit_pools(stack: Stack, run_id: str) -> set[str]:
    from urllib.parse import quote

    path = f"/api/v2/dags/recast_render/dagRuns/{quote(run_id, safe='')}/taskInstances"
    tis = stack.api("GET", f"{path}?limit=100")["task_instances"]
    return {ti["pool"] for ti in tis if ti["task_id"] in ("swap", "restore")}


def test_the_claim_of_a_poll_that_died_is_settled_by_the_next(stack: Stack) -> None:
    """A claim as a dead poll leaves it (old, its runs never created): moved to failed/."""
    import hashlib
    import json

    s3 = stack.s3_client()
    stack.wait_for_dag("recast_dropfolder")
    name, data = "stale/job.yaml", JOB.encode()
    claim_id = hashlib.sha256(name.encode() + b"\0" + data).hexdigest()[:16]
    s3.put_object(Bucket=BUCKET, Key=f"dropfolder/incoming/{name}", Body=data)
    etag = s3.head_object(Bucket=BUCKET, Key=f"dropfolder/incoming/{name}")["ETag"]
    claim = {"claim": claim_id, "name": name, "etag": etag, "status": "claimed"}
    claim |= {"run_id": f"drop__{claim_id}", "claimed_at": 1.0, "poll_run_id": "manual__gone"}
    s3.put_object(Bucket=BUCKET, Key=f"dropfolder/claims/{claim_id}.json", Body=json.dumps(claim))
    s3.put_object(Bucket=BUCKET, Key=f"dropfolder/claims/{claim_id}.job", Body=data)

    poll = stack.trigger("recast_dropfolder")
    assert stack.wait_for_run("recast_dropfolder", poll, timeout=180) == "success"
    result = _json(s3, f"dropfolder/failed/{name}.result.json")
    assert result["run_id"] == f"drop__{claim_id}"
    assert result["reason"].startswith("claim expired after")
    assert "does not exist" in result["reason"]  # Airflow's 404, told from an unanswered ask
    assert _keys(s3, "dropfolder/incoming/stale/") == []
    assert not [r for r in _render_runs(stack) if r["dag_run_id"] == f"drop__{claim_id}"]
