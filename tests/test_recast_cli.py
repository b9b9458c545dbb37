"""`recast render`'s settings: a flag per spec field, `--spec JOB.yaml` read as the drop folder
reads it, every problem at once in the user's own paths; the live progress (TTY and plain) and
the summary (one line per shot). Nothing here starts Airflow."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from PIL import Image
from skimage import data

from recast import options
from recast.cli import _parser, _spec
from recast.progress import RenderState, live
from recast.summary import summary_lines
from recast_airflow.dropfolder import DropFolder
from recast_airflow.render import merge_shots
from tasks import storage
from tasks.progress import PROGRESS_ENV, Progress, emit
from tasks.spec import RenderSpec, SpecError

JOB = """\
asset: film.mp4
faces:
  - {source: faces/lead.png, reference: faces/double.png, select: reference}
consent_reference: REL-2026-0042
tier: spot
restore_strength: 0.5
unit_frames: 120
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A job file with its film and faces beside it, as a person keeps them."""
    (tmp_path / "faces").mkdir()
    (tmp_path / "film.mp4").write_bytes(b"a film")  # never probed here
    for name in ("lead.png", "double.png"):
        Image.fromarray(data.astronaut()[::4, ::4]).save(tmp_path / "faces" / name)
    (tmp_path / "job.yaml").write_text(JOB)
    return tmp_path


def _args(*argv: str) -> Any:
    return _parser().parse_args(["render", "--out", "o.mp4", *argv])


def _sample(name: str, schema: dict[str, Any]) -> tuple[list[str], Any]:
    """Command-line words for a field, and the value they must give the spec."""
    info = RenderSpec.model_fields[name]
    kind, _ = options._unwrap(info.annotation)
    default = info.get_default(call_default_factory=True)
    flag = options.flag(name)
    if get_origin(kind) is Literal:
        value = next((c for c in get_args(kind) if c != default), default)
        return [flag, str(value)], value
    if kind is bool:
        return [flag if not default else f"--no-{flag[2:]}"], not default
    if kind in (int, float):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = kind(low) if "minimum" in schema else kind(default)
        return [flag, str(value)], value
    if kind is str:
        value = default if default is not None else STRINGS.get(name, "REL-9")
        return [flag, str(value)], value
    if get_origin(kind) is list:
        item, _ = options._unwrap(get_args(kind)[0])
        if get_origin(item) is Literal:  # --deliveries review master
            chosen = list(get_args(item)[:2])
            return [flag, *chosen], chosen
        if get_origin(item) is not None and not default:  # --shots 3,00:00:01:00-00:00:02:00
            return [flag, "3,00:00:01:00-00:00:02:00"], [3, "00:00:01:00-00:00:02:00"]
    return [flag, json.dumps(default)], default  # structured: JSON text


STRINGS = {"start_timecode": "01:00:00:00"}  # strings with a form of their own
# Fields valid only beside another: the other's words, given too.
COMPANIONS = {"base_run": ["--shots", "1"], "shots": ["--base", "manual__1"]}


def test_every_spec_field_is_a_flag_that_reaches_the_spec(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Derived from RenderSpec: a field added to the spec without a flag fails here."""
    monkeypatch.setenv("RECAST_MODELS", "s3://models/store")  # restore=gfpgan is allowed
    schema = RenderSpec.model_json_schema()["properties"]
    fields = [n for n in RenderSpec.model_fields if n not in options.OWN_FORM]
    help_text = subprocess.run(
        [sys.executable, "-m", "recast.cli", "render", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in fields:
        words, value = _sample(name, schema.get(name, {}))
        assert options.flag(name) in help_text, name
        companion = COMPANIONS.get(name, [])
        args = _args("--spec", str(folder / "job.yaml"), *words, *companion)  # over the file
        assert options.given(args)[name] == value, name
        assert len(options.given(args)) == 1 + bool(companion), name
        assert getattr(_spec(args), name) == value, name


def test_the_old_flags_still_work(folder: Path) -> None:
    spec = _spec(
        _args(
            str(folder / "film.mp4"),
            "--face",
            f"{folder}/faces/lead.png:{folder}/faces/double.png",
            "--restore",
            "none",
            "--max-units",
            "3",
            "--consent",
            "REL-1",
        )
    )
    assert (spec.max_units, spec.consent_reference) == (3, "REL-1")
    assert spec.faces[0].reference == f"{folder}/faces/double.png"


def test_a_job_file_gives_the_spec_the_drop_folder_gives(folder: Path, bucket: str) -> None:
    """The same job, from the command line (paths next to the file) and from the S3 drop
    folder (paths next to the job's key): the same spec, but for where the files are."""
    local = _spec(_args("--spec", str(folder / "job.yaml"))).model_dump()
    drop = DropFolder(f"s3://{bucket}/drop")
    for path in folder.rglob("*"):
        if path.is_file():
            key = path.relative_to(folder).as_posix()
            storage.write_bytes(f"{drop.uri}/incoming/{key}", path.read_bytes())
    (claim,) = drop.claim_all(f"s3://{bucket}")
    remote = json.loads(
        json.dumps(claim["conf"]).replace(f"s3://{bucket}/drop/incoming", str(folder))
    )
    assert local == remote
    assert local["asset"] == f"{folder}/film.mp4" and local["tier"] == "spot"


def test_flags_override_the_job_file(folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.png"
    Image.fromarray(data.astronaut()[::4, ::4]).save(other)
    spec = _spec(
        _args(
            "--spec",
            str(folder / "job.yaml"),
            "--tier",
            "standard",
            "--face",
            str(other),
            "--restore-strength",
            "0.25",
            "--consent",
            "REL-2",
        )
    )
    assert (spec.tier, spec.restore_strength, spec.consent_reference) == ("standard", 0.25, "REL-2")
    assert [f.source for f in spec.faces] == [str(other)]
    assert spec.unit_frames == 120  # from the file, not overridden


def test_every_problem_at_once_in_the_users_paths(folder: Path, tmp_path: Path) -> None:
    """One line, each problem named with the user's own path, before anything starts."""
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    (folder / "job.yaml").write_text(
        "asset: ../film.mp4\nfaces: [{source: 'http://example.com/a.png'}]\n"
        "tier: ultra\nrestore: gfpgan\n"
    )
    env = {**os.environ, "RECAST_SUPERVISED": "1"}
    env.pop("RECAST_MODELS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "recast.cli", "render", "--spec", str(folder / "job.yaml"),
         "--out", str(tmp_path / "o.mp4"), "--face", f"{notes}:{tmp_path}/nope.png"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "recast: refused: "
        "asset '../film.mp4': '..' in the key; refused; "
        "tier: 'ultra' is not a GPU tier; choose one of ['mig', 'spot', 'standard']; "
        "restore: restore=gfpgan needs restoration weights from a model store: set RECAST_MODELS "
        "(this deployment has none), or render with restore=none; "
        "no consent reference for face mapping 1: set consent_reference (or the mapping's "
        "consent) to the release that covers the face; "
        f"face source 1 {notes}: not an image (PNG, JPEG, WebP, ...); "
        f"face reference 1 not found: {tmp_path}/nope.png"
    ]
    assert not (tmp_path / "o.mp4").exists()


def test_no_film_and_no_face_said_once_each(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        _spec(_args("--consent", "REL-1"))
    assert err.value.problems == [
        "asset missing: give the film as INPUT, or asset: in --spec",
        "faces missing: give --face SOURCE[:REFERENCE], or faces: in --spec",
    ]


def test_a_job_file_that_is_not_there_or_not_a_job(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=f"job file not found: {tmp_path}/nope.yaml"):
        _spec(_args("--spec", str(tmp_path / "nope.yaml")))
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="a job must be a mapping of render settings, not a list"):
        _spec(_args("--spec", str(tmp_path / "list.yaml")))


# -- live progress -------------------------------------------------------------------------


def _events(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A render's events, as the stages write them (tasks.progress)."""
    import logging

    monkeypatch.setenv(PROGRESS_ENV, str(path))
    emit("stage", stage="detect-shots", unit=None, state="start")
    emit("stage", stage="detect-shots", unit=None, state="done")
    emit("plan", units=["u0000-aaaaaaaa", "u0001-bbbbbbbb"], frames={"u0000-aaaaaaaa": 48,
         "u0001-bbbbbbbb": 48})  # fmt: skip
    emit("stage", stage="swap", unit="u0000-aaaaaaaa", state="start")
    meter = Progress(logging.getLogger("t"), "swap u0000-aaaaaaaa", 48)
    for _ in range(4):
        meter.advance(12)
    emit("stage", stage="swap", unit="u0000-aaaaaaaa", state="done")
    emit("stage", stage="swap", unit="u0001-bbbbbbbb", state="start")
    Progress(logging.getLogger("t"), "swap u0001-bbbbbbbb", 48).advance(48)


def test_progress_in_plain_lines_off_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    with live(tmp_path / "events.jsonl", stream=out, tty=False):
        _events(tmp_path / "events.jsonl", monkeypatch)
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()  # no cursor movement: a log reads it
    assert lines[:3] == [
        "recast: detect_shots: started",
        lines[1],
        "recast: plan: 2 units, 96 frames",
    ]
    assert lines[1].startswith("recast: detect_shots: done in ")
    assert lines[3] == "recast: swap u0000-aaaaaaaa: started"
    assert lines[4].startswith("recast: swap u0000-aaaaaaaa: done in ")
    assert "swap: units 1/2, ETA " in lines[4]
    assert lines[5] == "recast: swap u0001-bbbbbbbb: started"


def test_progress_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    with live(tmp_path / "events.jsonl", stream=out, tty=True):
        _events(tmp_path / "events.jsonl", monkeypatch)
    screen = out.getvalue()
    assert "\x1b[" in screen  # rich redraws in place
    assert "swap units" in screen and "1/2" in screen and "ETA " in screen
    assert "swap u0001-bbbbbbbb" in screen and "48/48" in screen and " fps" in screen


def test_the_eta_follows_the_frames_done() -> None:
    state = RenderState()
    state.apply({"kind": "plan", "units": ["a", "b"], "frames": {"a": 100, "b": 300}, "t": 0})
    state.apply({"kind": "stage", "stage": "swap", "unit": "a", "state": "start", "t": 0})
    state.apply({"kind": "stage", "stage": "swap", "unit": "a", "state": "done", "t": 10})
    # 100 frames in 10 s: the 300 left take 30 s.
    assert state.eta(now=10) == pytest.approx(30)
    assert state.units_line().startswith("swap: units 1/2, ETA ")


# -- the summary ---------------------------------------------------------------------------


def test_one_line_per_shot_however_many_units_it_spans() -> None:
    per_unit = [
        {"shot": 4, "frames": 40, "faces_found": 40, "faces_swapped": 40, "flicker": 1.1},
        {"shot": 5, "frames": 3, "faces_found": 3, "faces_swapped": 3, "flicker": 1.0,
         "frames_reused": 3, "reused_from": "run-a"},
        {"shot": 5, "frames": 68, "faces_found": 60, "faces_swapped": 58, "flicker": 1.4,
         "frames_reused": 20, "reused_from": "run-b", "needs_compositor": 2,
         "compositor_faces": 1},
    ]  # fmt: skip
    assert merge_shots(per_unit)[1] == {
        "shot": 5, "frames": 71, "faces_found": 63, "faces_swapped": 61, "flicker": 1.4,
        "frames_reused": 23, "reused_from": "run-b", "needs_compositor": 2,
        "compositor_faces": 1,
    }  # fmt: skip
    report = {"run_id": "r", "frames": 111, "shots": 2, "units": 2, "per_shot": per_unit}
    qc = {"per_shot": [{"shot": 5, "warnings": ["low-confidence face detection at frame 50"]}]}
    every = summary_lines(report, {}, 1.0, qc=qc, verbose=True)
    assert [line.split(":")[0].strip() for line in every if "frames," in line] == [
        "shot    4",
        "shot    5",
    ]
    short = summary_lines(report, {}, 1.0, qc=qc)
    shots = [line for line in short if "frames," in line]
    assert shots == [
        "    shot    5:    71 frames,    63 faces found,    61 swapped"
        "  ! low-confidence face detection at frame 50"
    ]
    assert "shots with warnings 1" in short[1]


def test_a_feature_lists_only_some_warned_shots() -> None:
    rows = [{"shot": i, "frames": 10, "faces_found": 0, "faces_swapped": 0} for i in range(3000)]
    qc = {"per_shot": [{"shot": i, "warnings": ["no face in this shot"]} for i in range(3000)]}
    lines = summary_lines({"per_shot": rows}, {}, 1.0, qc=qc)
    assert len(lines) < 40
    assert "... 2980 more shots with warnings (--verbose lists every shot)" in lines[-3]


def test_fields_the_spec_may_gain_get_flags_of_their_kind() -> None:
    """Other engineers add fields (deliveries, handles, shots, vfr ...): each kind of field
    becomes a flag without a change to recast/options.py."""
    import argparse

    from pydantic import BaseModel, Field

    class Override(BaseModel):
        shot: int

    class Future(BaseModel):
        vfr: Literal["refuse", "conform"] = "refuse"
        handles: int | None = None
        plates: bool = False
        deliveries: list[Literal["review", "master", "shots"]] = Field(default=["review"])
        shots: list[int] = []
        overrides: list[Override] = []

    parser = argparse.ArgumentParser()
    for name, info in Future.model_fields.items():
        parser.add_argument(options.flag(name), dest=name, **options.argument(info))
    args = parser.parse_args(
        ["--vfr", "conform", "--handles", "8", "--plates", "--deliveries", "review", "shots",
         "--shots", "3", "5", "--shots", "9", "--overrides", '[{"shot": 2}]']
    )  # fmt: skip
    future = Future.model_validate(vars(args))
    assert future.model_dump() == {
        "vfr": "conform", "handles": 8, "plates": True, "deliveries": ["review", "shots"],
        "shots": [3, 5, 9], "overrides": [{"shot": 2}],
    }  # fmt: skip
    with pytest.raises(SystemExit):
        parser.parse_args(["--vfr", "drop"])  # not a choice: argparse says so
