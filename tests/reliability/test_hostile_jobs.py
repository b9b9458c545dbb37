"""Hostile and broken jobs, refused before any pod with every reason listed, nothing stored:
parameters out of range, buckets outside the allow-list, malformed drop-folder job files and
batch manifests, and a stage command line naming a bucket it may not touch.

Against a real S3 API (the session's embedded server); no Airflow run is needed: a refused job
never reaches the trigger (the drop folder's and the batch's mapped renders are built from what
`claim_all` and `load` return)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recast_airflow import batch
from recast_airflow.config import Settings
from recast_airflow.dropfolder import DropFolder
from recast_airflow.jobs import MAX_JOB_BYTES
from recast_airflow.render import validate
from tasks import cli, storage
from tasks.allowlist import BucketAllowList
from tasks.spec import SpecError

TIERS = Path(__file__).resolve().parents[2] / "plugins" / "recast_airflow" / "tiers.yaml"
RUN = "manual__2026-03-01T00:00:00+00:00"
MAPPING = "a job must be a mapping of render settings, not"


def _settings(bucket: str, allowed: str | None = None) -> Settings:
    return Settings("local", f"s3://{bucket}", "img", "ns", TIERS, None, allowed_buckets=allowed)


def _keys(bucket: str, prefix: str = "") -> list[str]:
    listing = storage.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


@pytest.fixture
def conf(bucket: str) -> dict[str, Any]:
    storage.write_bytes(f"s3://{bucket}/in/film.mp4", b"x")
    storage.write_bytes(f"s3://{bucket}/faces/a.png", b"x")
    return {
        "asset": f"s3://{bucket}/in/film.mp4",
        "faces": [{"source": f"s3://{bucket}/faces/a.png"}],
        "consent_reference": "REL-1",
    }


def _refused(conf: dict[str, Any], settings: Settings) -> list[str]:
    """validate's problems; and nothing was written for the run."""
    with pytest.raises(SpecError) as err:
        validate(conf, RUN, settings)
    bucket = settings.work_uri.removeprefix("s3://")
    assert _keys(bucket, "runs/") == [] and _keys(bucket, "renders/") == []
    assert str(err.value) == "refused render spec: " + "; ".join(err.value.problems)
    return err.value.problems


# -- parameters out of range: every one listed, at validate, before any pod ----------------


def test_every_bad_parameter_is_listed_at_validate(bucket: str, conf: dict[str, Any]) -> None:
    conf |= {"restore_strength": 5, "max_units": 0, "unit_frames": -1}
    conf |= {"tier": "ultra", "delivery": "imax", "restore": "codeformer"}
    problems = _refused(conf, _settings(bucket))
    assert sorted(p.split(":", 1)[0] for p in problems) == [
        "delivery", "max_units", "restore", "restore_strength", "tier", "unit_frames",
    ]  # fmt: skip
    assert "tier: 'ultra' is not a GPU tier; choose one of ['mig', 'spot', 'standard']" in problems
    assert "max_units: Input should be greater than or equal to 1 (got 0)" in problems


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"max_units": 10**6}, "max_units: Input should be less than or equal to 1000"),
        ({"restore_strength": -0.5}, "restore_strength: Input should be greater than or equal"),
        ({"unit_frames": "all"}, "unit_frames: Input should be a valid integer"),
        ({"tier": "cpu"}, "tier: 'cpu' is not a GPU tier"),
        ({"delivery": None}, "delivery: Input should be 'review' or 'master'"),
    ],
)
def test_each_out_of_range_value_is_refused(
    bucket: str, conf: dict[str, Any], over: dict[str, Any], expected: str
) -> None:
    (problem,) = _refused(conf | over, _settings(bucket))
    assert problem.startswith(expected)


def test_a_render_without_consent_is_refused_at_validate(bucket: str, conf: dict[str, Any]) -> None:
    del conf["consent_reference"]
    assert _refused(conf, _settings(bucket)) == [
        "no consent reference for face mapping 1: set consent_reference (or the mapping's "
        "consent) to the release that covers the face"
    ]


def test_a_render_reads_no_local_file(bucket: str, conf: dict[str, Any]) -> None:
    conf["faces"] = [{"source": "/etc/passwd", "reference": "faces/b.png"}]
    assert _refused(conf, _settings(bucket)) == [
        "face source 1 '/etc/passwd': a render reads s3:// URIs only",
        "face reference 1 'faces/b.png': a render reads s3:// URIs only",
    ]


# -- the bucket allow-list -----------------------------------------------------------------


@pytest.mark.parametrize("where", ["asset", "source", "reference"])
def test_an_input_outside_the_allow_list_is_refused_unlooked_at(
    bucket: str, conf: dict[str, Any], where: str
) -> None:
    other = "s3://other-bucket/secret/x.png"  # does not even exist: never looked up
    if where == "asset":
        conf["asset"] = other
    else:
        conf["faces"] = [{"source": conf["faces"][0]["source"], where: other}]
    what = {"asset": "asset", "source": "face source 1", "reference": "face reference 1"}
    assert _refused(conf, _settings(bucket, f"{bucket},media")) == [
        f"{what[where]}: bucket 'other-bucket' is not in the allow-list "
        f"(RECAST_ALLOWED_BUCKETS={bucket},media)"
    ]


def test_the_destination_must_be_allowed_too(bucket: str, conf: dict[str, Any]) -> None:
    # Inputs in an allowed bucket, but the work bucket (where renders publish) is left out.
    storage.client().create_bucket(Bucket=f"{bucket}-in")
    storage.write_bytes(f"s3://{bucket}-in/film.mp4", b"x")
    conf["asset"] = f"s3://{bucket}-in/film.mp4"
    conf["faces"] = []
    conf["faces"] = [{"source": f"s3://{bucket}-in/film.mp4"}]
    (problem,) = _refused(conf, _settings(bucket, f"{bucket}-in"))
    assert problem == (
        f"destination: bucket '{bucket}' is not in the allow-list "
        f"(RECAST_ALLOWED_BUCKETS={bucket}-in)"
    )


def test_unset_means_the_configured_buckets_and_a_star_means_any(
    bucket: str, conf: dict[str, Any]
) -> None:
    conf["asset"] = "s3://archive-bucket/film.mp4"
    (problem,) = _refused(conf, _settings(bucket))
    assert problem == (
        "asset: bucket 'archive-bucket' is not in the allow-list "
        f"(RECAST_ALLOWED_BUCKETS unset: the configured buckets {bucket})"
    )
    # "*": the check is off, and the input is looked up (it does not exist).
    (problem,) = _refused(conf, _settings(bucket, "*"))
    assert problem == "asset not found: s3://archive-bucket/film.mp4"
    ok = validate(conf | {"asset": f"s3://{bucket}/in/film.mp4"}, RUN, _settings(bucket, "*"))
    assert storage.exists(f"{ok['run']}/spec.json")


def test_an_allow_list_that_names_nothing_is_a_configuration_error() -> None:
    with pytest.raises(SpecError, match="names no bucket"):
        BucketAllowList.parse(" , ")


def test_a_stage_refuses_a_command_line_outside_the_allow_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defence in depth: a pod handed a forged command stops before reading anything."""
    monkeypatch.setenv("RECAST_ALLOWED_BUCKETS", "studio")
    out = tmp_path / "probe.json"
    code = cli.main(["probe", "s3://elsewhere/film.mp4", "--out", str(out)])
    assert code == cli.EXIT_REFUSED and not out.exists()
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "recast: refused: argument: bucket 'elsewhere' is not in the allow-list "
        "(RECAST_ALLOWED_BUCKETS=studio)"
    )


def test_a_face_that_is_not_an_image_is_named_as_given(
    bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-faces reads a scratch copy; the refusal names the user's URI, not that copy."""
    notes = f"s3://{bucket}/faces/notes.png"
    storage.write_bytes(notes, b"not an image\n")
    spec = {"asset": f"s3://{bucket}/in/film.mp4", "faces": [{"source": notes}]}
    storage.write_json(f"s3://{bucket}/runs/r/spec.json", spec)
    code = cli.main(["check-faces", "--spec", f"s3://{bucket}/runs/r/spec.json"])
    assert code == cli.EXIT_REFUSED
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"recast: refused: face source 1 {notes}: not an image (PNG, JPEG, WebP, ...)"
    )


# -- malformed drop-folder jobs: to failed/ with every problem, no render ------------------


@pytest.fixture
def drop(bucket: str) -> DropFolder:
    return DropFolder(f"s3://{bucket}/drop")


def _drop(drop: DropFolder, name: str, body: bytes) -> dict[str, Any]:
    """Drop a job, poll once: nothing claimed for a render, the job and its result in failed/."""
    storage.write_bytes(storage.join(drop.uri, "incoming", name), body)
    bucket = drop.uri[5:].split("/")[0]
    assert drop.claim_all(f"s3://{bucket}") == []
    assert _keys(bucket, "drop/incoming/") == []
    assert _keys(bucket, "runs/") == [] and _keys(bucket, "renders/") == []
    assert storage.read_bytes(storage.join(drop.uri, "failed", name)) == body  # kept intact
    result: dict[str, Any] = storage.read_json(
        storage.join(drop.uri, "failed", f"{name}.result.json")
    )
    assert result["status"] == "failed" and result["film"] is None
    return result


def test_every_schema_error_of_a_job_is_listed(bucket: str, drop: DropFolder) -> None:
    body = b"""\
asset: ../../other/film.mp4
faces:
  - {source: lead.png, select: everyone}
  - {reference: double.png}
restore_strength: 5
max_units: 0
delivery: imax
colour: red
consent_reference: REL-1
"""
    result = _drop(drop, "bad.yaml", body)
    assert result["problems"] == [
        "asset '../../other/film.mp4': '..' in the key; refused",
        "faces.0.select: Input should be 'reference', 'all' or 'largest' (got 'everyone')",
        "faces.1.source: Field required",
        "restore_strength: Input should be less than or equal to 1 (got 5)",
        "delivery: Input should be 'review' or 'master' (got 'imax')",
        "max_units: Input should be greater than or equal to 1 (got 0)",
        "colour: Extra inputs are not permitted (got 'red')",
    ]
    assert result["reason"] == "; ".join(result["problems"])


def test_a_job_hears_of_every_rule_it_breaks_at_once(bucket: str, drop: DropFolder) -> None:
    """Paths refused before the schema ran used to hide the deployment's rules."""
    body = b"""\
asset: ../film.mp4
faces: [{source: "http://example.com/face.png"}]
tier: ultra
restore: gfpgan
"""
    result = _drop(drop, "rules.yaml", body)
    assert result["problems"] == [
        "asset '../film.mp4': '..' in the key; refused",
        "faces.0.source 'http://example.com/face.png': only s3:// URIs; refused",
        "tier: 'ultra' is not a GPU tier; choose one of ['mig', 'spot', 'standard']",
        "restore: restore=gfpgan needs restoration weights from a model store: set "
        "RECAST_MODELS (this deployment has none), or render with restore=none",
        "no consent reference for face mapping 1: set consent_reference (or the mapping's "
        "consent) to the release that covers the face",
    ]


def test_a_job_naming_a_bucket_outside_the_allow_list(bucket: str, drop: DropFolder) -> None:
    body = b"asset: s3://vendor-uploads/film.mp4\nfaces: [{source: s3://vendor-uploads/a.png}]\n"
    body += b"consent_reference: REL-1\n"
    result = _drop(drop, "vendor.yaml", body)
    assert result["problems"] == [
        f"{what}: bucket 'vendor-uploads' is not in the allow-list "
        f"(RECAST_ALLOWED_BUCKETS unset: the configured buckets {bucket})"
        for what in ("asset", "face source 1")
    ]


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("list.yaml", b"- asset: film.mp4\n", f"{MAPPING} a list"),
        ("text.yaml", b"render film.mp4 please\n", f"{MAPPING} a str"),
        ("empty.yaml", b"", f"{MAPPING} nothing"),
        ("broken.yaml", b"asset: [unclosed\n", "broken.yaml: not valid YAML"),
        ("broken.json", b'{"asset": ', "broken.json: not valid JSON"),
        ("binary.json", b"\xff\xfe\x00garbage", "binary.json: not valid JSON"),
        # A safe loader only: no Python objects from a job file.
        ("python.yaml", b"a: !!python/object/apply:os.system ['touch /tmp/pwned']", "YAML"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "not valid JSON: nested too deeply"),
        ("deep.yaml", b"a: " + b"[" * 40 + b"]" * 40, "more than 10000 values or 32 levels"),
    ],
)  # fmt: skip
def test_a_malformed_job_file_is_refused_with_the_reason(
    drop: DropFolder, name: str, body: bytes, reason: str
) -> None:
    result = _drop(drop, name, body)
    assert reason in result["reason"] and result["problems"] == [result["reason"]]
    assert not Path("/tmp/pwned").exists()


def test_a_yaml_alias_bomb_is_refused_unexpanded(drop: DropFolder) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    body = ("\n".join(levels) + "\nasset: *a8\n").encode()  # 10^9 values once expanded
    assert len(body) < 2_000
    result = _drop(drop, "bomb.yaml", body)
    assert "more than 10000 values" in result["reason"]


def test_an_oversize_job_is_moved_aside_unread(bucket: str, drop: DropFolder) -> None:
    body = b"asset: film.mp4\n" + b"# padding\n" * (MAX_JOB_BYTES // 10 + 1)
    result = _drop(drop, "huge.yaml", body)
    assert (
        result["reason"]
        == f"huge.yaml: {len(body)} bytes, larger than {MAX_JOB_BYTES} bytes; not read"
    )
    assert _keys(bucket, "drop/claims/") == []  # never claimed: not even copied into a claim


# -- the batch manifest ----------------------------------------------------------------------


def test_every_problem_of_every_manifest_entry_is_reported(bucket: str) -> None:
    uri = f"s3://{bucket}/batch/nightly.yaml"
    manifest = {
        "defaults": {"faces": [{"source": "lead.png"}], "consent_reference": "REL-1"},
        "renders": [
            {"asset": "ok.mp4"},
            {"asset": "a.mp4", "restore_strength": 5, "unit_frames": -1, "tier": "Ultra!"},
            {"asset": "s3://vendor/b.mp4"},
            {"asset": "/etc/passwd", "max_units": 10**6},
        ],
    }
    storage.write_bytes(uri, json.dumps(manifest).encode())
    renders, refused = batch.load(uri, "manual__1", f"s3://{bucket}")
    assert [r["asset"] for r in renders] == [f"s3://{bucket}/batch/ok.mp4"]
    assert refused == [
        "entry 1: restore_strength: Input should be less than or equal to 1 (got 5); "
        "tier: String should match pattern '^[a-z][a-z0-9-]{0,31}$' (got 'Ultra!'); "
        "unit_frames: Input should be greater than or equal to 1 (got -1)",
        "entry 2: asset: bucket 'vendor' is not in the allow-list "
        f"(RECAST_ALLOWED_BUCKETS unset: the configured buckets {bucket})",
        "entry 3: asset '/etc/passwd': absolute path or backslash in the key; refused; "
        "max_units: Input should be less than or equal to 1000 (got 1000000)",
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"renders: [unclosed\n", "not valid YAML"),
        (b"a: &a [x, x]\nb: &b [*a, *a]\n" + b"#\n" * 10, None),  # small aliases are fine
        (b"x" * (MAX_JOB_BYTES + 1), "larger than"),
    ],
)
def test_a_malformed_manifest_is_refused_whole(
    bucket: str, body: bytes, reason: str | None
) -> None:
    uri = f"s3://{bucket}/batch/m.yaml"
    storage.write_bytes(uri, body)
    with pytest.raises(SpecError, match=reason or "expected a list of renders"):
        batch.load(uri, "manual__1", f"s3://{bucket}")
