"""The drop folder's claim and moves, against a real S3 API (no Airflow run needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from recast_airflow.dropfolder import DropFolder
from recast_airflow.jobs import unsafe_key
from tasks import storage

JOB = """\
asset: film.mp4
faces:
  - source: faces/lead.png
    reference: s3://{bucket}/cast/double.png
tier: spot
consent_reference: REL-2026-0042
"""


@pytest.fixture
def drop(bucket: str) -> DropFolder:
    return DropFolder(f"s3://{bucket}/drop")


def _put(drop: DropFolder, name: str, body: str | bytes) -> None:
    data = body.encode() if isinstance(body, str) else body
    storage.write_bytes(storage.join(drop.uri, "incoming", name), data)


def _result(drop: DropFolder, folder: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = storage.read_json(
        storage.join(drop.uri, folder, f"{name}.result.json")
    )
    return result


def _keys(bucket: str) -> list[str]:
    listing = storage.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("job.yaml", None),
        ("show/ep1/job.yaml", None),
        ("../job.yaml", "'..'"),
        ("a/../../job.yaml", "'..'"),
        ("/etc/job.yaml", "absolute"),
        ("a\\b.yaml", "backslash"),
        ("job\n.yaml", "control"),
        ("job\x7f.yaml", "control"),
        ("", "empty"),
    ],
)
def test_unsafe_keys(key: str, reason: str | None) -> None:
    found = unsafe_key(key)
    assert (found is None) if reason is None else (reason in (found or ""))


def test_a_job_is_claimed_once_and_its_inputs_resolved(bucket: str, drop: DropFolder) -> None:
    _put(drop, "show/job.yaml", JOB.format(bucket=bucket))
    claims = drop.claim_all(f"s3://{bucket}")
    assert len(claims) == 1
    claim = claims[0]
    assert claim["run_id"] == f"drop__{claim['claim']}"
    conf = claim["conf"]
    assert conf["asset"] == f"s3://{bucket}/drop/incoming/show/film.mp4"
    assert conf["faces"][0]["source"] == f"s3://{bucket}/drop/incoming/show/faces/lead.png"
    assert conf["faces"][0]["reference"] == f"s3://{bucket}/cast/double.png"
    assert conf["tier"] == "spot" and conf["consent_reference"] == "REL-2026-0042"
    assert claim["film"] == f"s3://{bucket}/renders/film/{claim['run_id']}/film.mp4"
    # A second poller (or the same one, again) sees the job but cannot take it.
    assert DropFolder(drop.uri).claim_all(f"s3://{bucket}") == []
    assert storage.exists(storage.join(drop.uri, "incoming", "show/job.yaml"))


def test_finish_moves_the_job_and_a_second_drop_does_nothing(bucket: str, drop: DropFolder) -> None:
    _put(drop, "job.json", json.dumps({"asset": "film.mp4", "faces": [{"source": "a.png"}]}))
    (claim,) = drop.claim_all(f"s3://{bucket}")
    where = drop.finish(claim, "success", film=claim["film"])
    assert where == f"s3://{bucket}/drop/processed/job.json"
    assert _result(drop, "processed", "job.json")["film"] == claim["film"]
    assert not storage.exists(storage.join(drop.uri, "incoming", "job.json"))
    # The very same job dropped again: refused as a duplicate, no new claim, no render.
    _put(drop, "job.json", json.dumps({"asset": "film.mp4", "faces": [{"source": "a.png"}]}))
    assert drop.claim_all(f"s3://{bucket}") == []
    reason = _result(drop, "failed", "job.json")["reason"]
    assert reason.startswith(f"duplicate: this job was already taken by {claim['run_id']}")
    assert not storage.exists(storage.join(drop.uri, "incoming", "job.json"))
    # Changed, it is a new job.
    _put(drop, "job.json", json.dumps({"asset": "film.mp4", "faces": [{"source": "b.png"}]}))
    assert len(drop.claim_all(f"s3://{bucket}")) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("asset: /etc/passwd\nfaces: [{source: a.png}]\n", "absolute path"),
        ("asset: ../other/film.mp4\nfaces: [{source: a.png}]\n", "'..'"),
        ("asset: https://example.com/f.mp4\nfaces: [{source: a.png}]\n", "only s3://"),
        ("asset: film.mp4\nfaces: []\n", "faces"),
        ("asset: film.mp4\nfaces: [{source: a.png}]\nrestore: codeformer\n", "restore"),
        ("asset: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "a job must be a mapping"),
    ],
)
def test_a_bad_job_goes_to_failed_with_the_reason(
    bucket: str, drop: DropFolder, body: str, reason: str
) -> None:
    _put(drop, "bad.yaml", body)
    assert drop.claim_all(f"s3://{bucket}") == []
    assert reason in _result(drop, "failed", "bad.yaml")["reason"]
    assert storage.exists(storage.join(drop.uri, "failed", "bad.yaml"))
    assert not storage.exists(storage.join(drop.uri, "incoming", "bad.yaml"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad\tname.yaml", "control characters"),
        ("job\x1b[2J.yaml", "control characters"),  # a terminal escape in a log
        ("job\x7f.yaml", "control characters"),
        ("../job.yaml", "'..'"),
        ("show/../../job.yaml", "'..'"),
        ("/etc/job.yaml", "absolute path"),  # the key drop/incoming//etc/job.yaml
        ("show\\job.yaml", "backslash"),
    ],
)
def test_an_unsafe_key_is_refused_and_removed(
    bucket: str, drop: DropFolder, name: str, reason: str
) -> None:
    # A valid job under a hostile key: the key alone is refused. (S3 itself refuses "\n".)
    key = f"drop/incoming/{name}"
    storage.client().put_object(Bucket=bucket, Key=key, Body=JOB.format(bucket=bucket).encode())
    assert drop.claim_all(f"s3://{bucket}") == []
    (failed,) = _keys(bucket)  # nothing left in incoming/, no claim, no render
    assert failed.startswith("drop/failed/") and failed.endswith(".result.json")
    result = storage.read_json(f"s3://{bucket}/{failed}")
    assert result["status"] == "failed" and reason in result["reason"]
    assert result["key"] == name
    assert drop.claim_all(f"s3://{bucket}") == []  # and the next poll finds nothing


def test_keys_that_clean_to_the_same_name_keep_their_own_result(
    bucket: str, drop: DropFolder
) -> None:
    for name in ("job\x1b.yaml", "job\x7f.yaml"):
        _put(drop, name, JOB.format(bucket=bucket))
    drop.claim_all(f"s3://{bucket}")
    assert len([k for k in _keys(bucket) if k.startswith("drop/failed/")]) == 2


def test_a_new_job_under_the_same_name_survives_the_finish(bucket: str, drop: DropFolder) -> None:
    _put(drop, "job.yaml", JOB.format(bucket=bucket))
    (claim,) = drop.claim_all(f"s3://{bucket}")
    _put(drop, "job.yaml", JOB.format(bucket=bucket).replace("spot", "standard"))
    drop.finish(claim, "failed", "render failed: swap: out of memory")
    assert _result(drop, "failed", "job.yaml")["reason"] == "render failed: swap: out of memory"
    assert (
        "tier: standard"
        in storage.read_bytes(storage.join(drop.uri, "incoming", "job.yaml")).decode()
    )
    assert "tier: spot" in storage.read_bytes(storage.join(drop.uri, "failed", "job.yaml")).decode()


def test_other_files_are_not_jobs(bucket: str, drop: DropFolder) -> None:
    _put(drop, "film.mp4", b"not a job")
    _put(drop, "notes.txt", b"hello")
    assert drop.incoming() == []


def test_only_a_faces_file_fields_are_resolved_as_paths(bucket: str, drop: DropFolder) -> None:
    job = "asset: film.mp4\nfaces: [{source: a.png, consent: REL-7, select: largest}]\n"
    _put(drop, "job.yaml", job)
    (claim,) = drop.claim_all(f"s3://{bucket}")
    face = claim["conf"]["faces"][0]
    assert face["source"] == f"s3://{bucket}/drop/incoming/a.png"
    assert face["consent"] == "REL-7" and face["select"] == "largest"
