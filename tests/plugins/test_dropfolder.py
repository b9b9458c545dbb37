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


def _job(face: str) -> str:
    return json.dumps({"asset": "film.mp4", "faces": [{"source": face, "consent": "R-1"}]})


def test_finish_moves_the_job_and_a_second_drop_does_nothing(bucket: str, drop: DropFolder) -> None:
    _put(drop, "job.json", _job("a.png"))
    (claim,) = drop.claim_all(f"s3://{bucket}")
    where = drop.finish(claim, "success", film=claim["film"])
    assert where == f"s3://{bucket}/drop/processed/job.json"
    assert _result(drop, "processed", "job.json")["film"] == claim["film"]
    assert not storage.exists(storage.join(drop.uri, "incoming", "job.json"))
    # The very same job dropped again: refused as a duplicate, no new claim, no render.
    _put(drop, "job.json", _job("a.png"))
    assert drop.claim_all(f"s3://{bucket}") == []
    reason = _result(drop, "failed", "job.json")["reason"]
    assert reason.startswith(f"duplicate: this job was already taken by {claim['run_id']}")
    assert not storage.exists(storage.join(drop.uri, "incoming", "job.json"))
    # Changed, it is a new job.
    _put(drop, "job.json", _job("b.png"))
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


# Claims whose poll died: settled by a later scan, from the render's outcome.


def _states(**by_dag: str) -> Any:
    """A fake of Airflow's run states: every run of a DAG in one state; records the asks."""
    asked: list[tuple[str, str]] = []

    def outcome(dag_id: str, run_id: str) -> tuple[str, str]:
        asked.append((dag_id, run_id))
        state = by_dag[dag_id.removeprefix("recast_")]
        return state, "" if state == "success" else f"{run_id}: swap: CUDA out of memory"

    outcome.asked = asked  # type: ignore[attr-defined]
    return outcome


def _claimed(bucket: str, drop: DropFolder) -> dict[str, Any]:
    _put(drop, "show/job.yaml", JOB.format(bucket=bucket))
    (claim,) = drop.claim_all(f"s3://{bucket}", _states(), poll_run_id="scheduled__dead")
    return claim


def test_a_claim_records_its_render_its_poll_and_its_film(bucket: str, drop: DropFolder) -> None:
    claim = _claimed(bucket, drop)
    record = storage.read_json(storage.join(drop.uri, "claims", f"{claim['claim']}.json"))
    assert record["status"] == "claimed" and record["run_id"] == claim["run_id"]
    assert record["poll_run_id"] == "scheduled__dead"
    assert record["film"] == claim["film"] and record["claimed_at"] > 0


@pytest.mark.parametrize(
    ("render", "folder", "reason"),
    [
        ("failed", "failed", "swap: CUDA out of memory"),
        ("missing", "failed", "claim expired after"),
    ],
)
def test_a_dead_poll_s_claim_goes_to_failed_with_the_render_s_reason(
    bucket: str, drop: DropFolder, render: str, folder: str, reason: str
) -> None:
    claim = _claimed(bucket, drop)
    later = DropFolder(drop.uri, lease=0)  # a scan after the lease
    states = _states(dropfolder="failed", render=render)
    assert later.claim_all(f"s3://{bucket}", states) == []
    result = _result(drop, folder, "show/job.yaml")
    assert result["status"] == "failed" and result["run_id"] == claim["run_id"]
    assert reason in result["reason"] and "poll that took it is gone" in result["reason"]
    assert states.asked == [
        ("recast_dropfolder", "scheduled__dead"),
        ("recast_render", claim["run_id"]),
    ]
    assert not storage.exists(storage.join(drop.uri, "incoming", "show/job.yaml"))
    closed = storage.read_json(storage.join(drop.uri, "claims", f"{claim['claim']}.json"))
    assert closed["status"] == "failed"
    # Settled once: the next scan finds nothing, and the job dropped again is a duplicate.
    assert later.claim_all(f"s3://{bucket}", _states()) == []
    _put(drop, "show/job.yaml", JOB.format(bucket=bucket))
    assert later.claim_all(f"s3://{bucket}", _states()) == []
    assert _result(drop, "failed", "show/job.yaml")["reason"].startswith("duplicate")


def test_a_dead_poll_s_finished_render_still_lands_in_processed(
    bucket: str, drop: DropFolder
) -> None:
    claim = _claimed(bucket, drop)
    later = DropFolder(drop.uri, lease=0)
    assert later.claim_all(f"s3://{bucket}", _states(dropfolder="failed", render="success")) == []
    result = _result(drop, "processed", "show/job.yaml")
    assert result["status"] == "success" and result["film"] == claim["film"]


@pytest.mark.parametrize(
    ("lease", "poll", "render"),
    [
        (3600, "failed", "failed"),  # within the lease: not even asked
        (0, "running", "failed"),  # the poll lives: its own finish moves the job
        (0, "unknown", "failed"),  # Airflow did not answer: ask again later
        (0, "failed", "running"),  # the render goes on: settled when it ends
        (0, "failed", "queued"),
        (0, "failed", "unknown"),
    ],
)
def test_a_claim_is_left_alone_unless_its_poll_and_render_are_over(
    bucket: str, drop: DropFolder, lease: float, poll: str, render: str
) -> None:
    claim = _claimed(bucket, drop)
    states = _states(dropfolder=poll, render=render)
    assert DropFolder(drop.uri, lease=lease).claim_all(f"s3://{bucket}", states) == []
    assert storage.exists(storage.join(drop.uri, "incoming", "show/job.yaml"))
    record = storage.read_json(storage.join(drop.uri, "claims", f"{claim['claim']}.json"))
    assert record["status"] == "claimed"
    assert bool(states.asked) == (lease == 0)


def test_the_lease_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECAST_DROP_CLAIM_LEASE", "90")
    assert DropFolder("s3://b/drop").lease == 90.0
    monkeypatch.delenv("RECAST_DROP_CLAIM_LEASE")
    assert DropFolder("s3://b/drop").lease == 1800.0


def test_run_outcome_tells_a_missing_run_from_an_unanswered_question() -> None:
    """What the task SDK raises: AirflowRuntimeError carrying the Execution API's status."""
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    from recast_airflow.dropfolder import run_outcome

    def raising(status: int) -> Any:
        error = ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": status})

        def get_dagrun_state(dag_id: str, run_id: str) -> str:
            raise AirflowRuntimeError(error)

        return SimpleNamespace(get_dagrun_state=get_dagrun_state)

    assert run_outcome(raising(404), "recast_render", "drop__x")[0] == "missing"
    assert run_outcome(raising(503), "recast_render", "drop__x")[0] == "unknown"
    running = SimpleNamespace(get_dagrun_state=lambda dag_id, run_id: "running")
    assert run_outcome(running, "recast_dropfolder", "p") == (
        "running",
        "recast_dropfolder run p is running",
    )


def test_the_poll_dag_is_the_one_named_here() -> None:
    from recast_airflow.dropfolder import POLL_DAG
    from tests.conftest import ROOT

    assert f'dag_id="{POLL_DAG}"' in (ROOT / "dags" / "recast_dropfolder.py").read_text()
