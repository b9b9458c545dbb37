"""`recast render` end to end: real Airflow DAG run, local backend, embedded S3, real video."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from recast import dashboards
from recast.monitoring import Monitoring, monitoring
from recast.samples import make_film, varied_shots
from tasks.faces import detect_faces
from tasks.layout import safe_run_id
from tasks.media.frames import read_frames
from tasks.media.probe import probe

pytestmark = pytest.mark.e2e

SHOTS = [24, 14, 22]  # astronaut, coffee (no face), cameraman
TONES = [440.0, 554.37, 659.25]  # varied_shots' tones for those shots
FPS = 24
CONSENT = "REL-2026-0007"


def _recast(
    *args: str, home: Path, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECAST_HOME": str(home), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "recast.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _save(image: np.ndarray, path: Path) -> Path:
    Image.fromarray(np.stack([image] * 3, -1) if image.ndim == 2 else image).save(path)
    return path


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def _audio(path: Path, rate: int = 48_000) -> np.ndarray:
    pcm = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitoring]:
    """A real Pushgateway and a Prometheus scraping it (Debian's binaries, loopback ports)."""
    with monitoring(tmp_path_factory.mktemp("monitoring"), scrape_every="1s") as mon:
        yield mon


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, servers: Monitoring) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("e2e")
    film = make_film(tmp / "film.mp4", varied_shots(SHOTS), fps=str(FPS), size=(480, 270))
    source = _save(data.astronaut(), tmp / "astronaut.png")
    reference = _save(data.camera(), tmp / "camera.png")
    out = tmp / "render" / "out.mp4"
    proc = _recast(
        "render", str(film), "--face", f"{source}:{reference}", "--out", str(out),
        "--consent", CONSENT, home=tmp / "home", env_extra=servers.env(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (tmp / "stdout.txt").write_text(proc.stdout)
    return {"film": film, "out": out, "stdout": Path(tmp / "stdout.txt"), "home": tmp / "home"} | {
        "report": out.with_name("out_report.json"),
        "sheet": out.with_name("out_contact_sheet.jpg"),
    }


def test_output_keeps_frames_duration_and_audio(rendered: dict[str, Path]) -> None:
    before, after = probe(rendered["film"]), probe(rendered["out"])
    assert after.frame_count == before.frame_count == sum(SHOTS)
    assert after.fps == before.fps
    assert abs(after.duration - before.duration) <= 1 / FPS
    assert after.audio_streams == 1


def test_each_shot_keeps_its_tone(rendered: dict[str, Path]) -> None:
    rate = 48_000
    audio = _audio(rendered["out"], rate)
    start = 0
    for frames, tone in zip(SHOTS, TONES, strict=True):
        # The middle of each shot, away from the cuts.
        lo = int((start + frames * 0.25) / FPS * rate)
        hi = int((start + frames * 0.75) / FPS * rate)
        assert abs(_dominant_hz(audio[lo:hi], rate) - tone) < 15
        start += frames


def test_only_the_referenced_person_changed(rendered: dict[str, Path]) -> None:
    before = list(read_frames(rendered["film"]))
    after = list(read_frames(rendered["out"]))

    def face_change(frame_index: int) -> tuple[float, float]:
        b, a = before[frame_index].astype(np.int16), after[frame_index].astype(np.int16)
        faces = detect_faces(before[frame_index])
        assert len(faces) == 1
        x1, y1, x2, y2 = (int(v) for v in faces[0].bbox)
        inside = np.abs(b[y1:y2, x1:x2] - a[y1:y2, x1:x2]).mean()
        mask = np.ones(b.shape[:2], bool)
        mask[max(0, y1 - 20) : y2 + 20, max(0, x1 - 20) : x2 + 20] = False
        outside = np.abs(b - a)[mask].mean()
        return float(inside), float(outside)

    cameraman = SHOTS[0] + SHOTS[1] + SHOTS[2] // 2
    inside, outside = face_change(cameraman)
    assert inside > 12, f"the cameraman's face barely changed ({inside:.1f})"
    assert outside < 3, f"pixels away from the face changed ({outside:.1f})"
    inside, _ = face_change(SHOTS[0] // 2)  # the astronaut is not the reference
    assert inside < 3, f"the astronaut's face changed ({inside:.1f})"


def test_report_and_contact_sheet_are_published(rendered: dict[str, Path]) -> None:
    report = json.loads(rendered["report"].read_text())
    assert report["frames"] == sum(SHOTS)
    assert report["shots"] == len(SHOTS)
    per_shot = {s["shot"]: s for s in report["per_shot"]}
    assert per_shot[0]["faces_swapped"] == 0 and per_shot[0]["faces_found"] == SHOTS[0]
    assert per_shot[1]["faces_found"] == 0
    assert per_shot[2]["faces_swapped"] == SHOTS[2]
    assert report["faces_swapped"] == SHOTS[2]
    for stage in ("probe", "detect_shots", "split", "swap", "restore", "assemble"):
        assert report["seconds"][stage] >= 0
    sheet = Image.open(rendered["sheet"])
    assert sheet.height > sheet.width / 2  # one row per shot, three rows


def test_no_secret_reaches_the_logs_or_the_report(rendered: dict[str, Path]) -> None:
    from recast.s3server import CREDENTIALS

    home = rendered["film"].parent / "home"
    (key,) = home.rglob("c2pa-development/key.pem")  # the signing key the finalize stage used
    pem = [ln for ln in key.read_text().splitlines() if ln and not ln.startswith("-----")]
    secrets = [CREDENTIALS["AWS_SECRET_ACCESS_KEY"], *pem]
    log = rendered["out"].with_name("out_airflow.log").read_text()
    # Mapped results are read by slice, not one index past their end (a 404 logged as an error).
    assert "XCom not found" not in log
    texts = (".json", ".html", ".otio")  # the contact sheet is a JPEG
    published = [p for p in rendered["out"].parent.glob("out_*") if p.suffix in texts]
    assert {p.name for p in published} >= {"out_qc.html", "out_provenance.json"}
    stage_logs = list(home.rglob("stage-logs/*/*.log"))  # kept by the local backend
    assert "swap" in "".join(p.read_text() for p in stage_logs)  # the logs are the real ones
    for text in [log, *(p.read_text() for p in [*published, *stage_logs])]:
        assert not [s for s in secrets if s in text]
    # Airflow's database: XCom, task arguments (rendered fields), run conf, every table.
    db = home / "airflow" / "airflow.db"
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        xcoms = conn.execute("SELECT COUNT(*) FROM xcom").fetchone()[0]
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            text = repr(rows)
            assert not [s for s in secrets if s in text], table
    assert xcoms > 10  # the XCom rows were there to search


def _sum(servers: Monitoring, expr: str) -> float:
    """The value of a scalar-like query, once Prometheus has scraped what it sums."""
    deadline = time.monotonic() + 20
    while not (found := servers.query(expr)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert found, f"nothing for {expr}"
    return float(found[0]["value"][1])


def test_the_render_s_figures_reach_prometheus_and_its_stage_logs_are_json(
    rendered: dict[str, Path], servers: Monitoring
) -> None:
    report = json.loads(rendered["report"].read_text())
    run_id = safe_run_id(report["run_id"])  # as the run's prefix names it
    run = f'dag="recast_render",run="{run_id}"'
    frames = f"sum(recast_stage_frames{{{run},stage=%r}})"
    assert _sum(servers, frames % "swap") == report["frames"] == sum(SHOTS)
    assert _sum(servers, frames % "assemble") == sum(SHOTS)
    assert _sum(servers, frames % "detect-shots") == sum(SHOTS)
    swapped = f'sum(recast_stage_faces_swapped{{{run},stage="swap"}})'
    assert _sum(servers, swapped) == report["faces_swapped"]
    found = f'sum(recast_stage_faces_found{{{run},stage="swap"}})'
    assert _sum(servers, found) == sum(s["faces_found"] for s in report["per_shot"])
    outcomes = servers.query(f"count by (stage, outcome) (recast_stage_wall_seconds{{{run}}})")
    ran = {(o["metric"]["stage"], o["metric"]["outcome"]) for o in outcomes}
    assert ran >= {(stage, "ok") for stage in ("probe", "detect-shots", "split", "swap")}
    # Nothing to restore (restore: none): no restore task ran, the swap's units went on.
    assert not [stage for stage, _ in ran if stage == "restore"]
    # The dashboard's own throughput panel, as Grafana would ask for it, sees the same frames.
    panel = dashboards.queries(dashboards.build())[0]
    assert "Frames rendered" in dashboards.build()["panels"][1]["title"]
    expr = panel.replace("$window", "3600").replace("$dag", "recast_render")
    assert _sum(servers, f"sum({expr})") == sum(SHOTS)
    tiers = servers.query(f'count by (tier) (recast_stage_frames{{{run},stage="swap"}})')
    assert [t["metric"]["tier"] for t in tiers] == [report.get("tier", "standard")]
    # Every line the stages printed (as the local backend keeps them) is one JSON object.
    home = rendered["film"].parent / "home" / "airflow"
    kept = home / "stage-logs" / "recast_render" / f"{run_id}.log"
    lines = [json.loads(ln) for ln in kept.read_text().splitlines()]
    assert {ln["stage"] for ln in lines} >= {"probe", "detect-shots", "swap", "assemble"}
    assert {ln["run"] for ln in lines} == {run_id}
    # A unit's lines select by field, and name the same units as its series.
    units = servers.query(f'recast_stage_frames{{{run},stage="swap"}}')
    assert {ln["unit"] for ln in lines if ln["stage"] == "swap"} == {
        u["metric"]["unit"] for u in units
    }
    assert {ln["unit"] for ln in lines if ln["stage"] == "probe"} == {"all"}


def test_a_source_image_without_a_face_is_refused_before_any_unit(tmp_path: Path) -> None:
    film = make_film(tmp_path / "film.mp4", varied_shots([12, 12]), size=(320, 180))
    no_face = _save(data.coffee(), tmp_path / "coffee.png")
    out = tmp_path / "out.mp4"
    proc = _recast(
        "render", str(film), "--face", str(no_face), "--out", str(out), "--consent", CONSENT,
        home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    reason = proc.stderr.strip().splitlines()[-1]
    assert reason.startswith("recast: check_faces: ") and "face source 1: no face found" in reason
    assert not out.exists()
    states = _task_states(tmp_path / "airflow" / "airflow.db")
    assert states["check_faces"] == "failed"
    assert states["swap"] == states["publish"] == "upstream_failed"


def _task_states(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT task_id, state FROM task_instance").fetchall()
    return dict(rows)


def test_the_film_is_signed_and_names_the_consent(rendered: dict[str, Path]) -> None:
    from tasks.provenance.c2pa_manifest import verify

    check = verify(rendered["out"])
    assert check.valid, check.problems
    assert check.facts is not None and check.facts["consent_references"] == [CONSENT]
    assert check.facts["faces_swapped"] == SHOTS[2]
    qc = rendered["out"].with_name("out_qc.html").read_text()
    assert CONSENT in qc and qc.count("data:image/jpeg;base64,") == 2 * len(SHOTS)


def test_a_render_without_consent_is_refused_before_any_unit(tmp_path: Path) -> None:
    film = make_film(tmp_path / "film.mp4", varied_shots([12, 12]), size=(320, 180))
    face = _save(data.astronaut(), tmp_path / "astronaut.png")
    out = tmp_path / "out.mp4"
    proc = _recast("render", str(film), "--face", str(face), "--out", str(out), home=tmp_path)
    assert proc.returncode == 1
    reason = proc.stderr.strip().splitlines()[-1]
    assert reason.startswith("recast: refused: no consent reference for face mapping 1")
    # Refused by the command itself, before Airflow or S3 start (the DAG's validate, which
    # refuses the same, is tested in tests/reliability/test_hostile_jobs.py).
    assert not (tmp_path / "airflow").exists()
    assert not out.exists()


def test_a_missing_input_is_named(tmp_path: Path) -> None:
    proc = _recast(
        "render", str(tmp_path / "nope.mp4"), "--face", "x.png", "--out", str(tmp_path / "o.mp4"),
        home=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "recast: refused: no consent reference for face mapping 1: set consent_reference (or "
        "the mapping's consent) to the release that covers the face; "
        f"input film not found: {tmp_path}/nope.mp4; face source 1 not found: x.png"
    ]


def test_the_next_cut_reuses_the_first_render_and_a_scoped_one_redoes_a_shot(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    """Two more CLI renders in the same work area: v2 (the cameraman's shot moved first, the
    astronaut's after it, the coffee dropped, re-encoded) reuses every frame of the first render;
    then a scoped re-render of the first film redoes shot 2 and skips shot 0."""
    from tasks.layout import safe_run_id
    from tests.versions import encode

    first = safe_run_id(json.loads(rendered["report"].read_text())["run_id"])
    frames = list(read_frames(rendered["film"]))
    v2 = encode(frames[38:60] + frames[:24], tmp_path / "v2.mp4", crf=24, preset="veryfast")
    faces = f"{rendered['film'].parent / 'astronaut.png'}:{rendered['film'].parent / 'camera.png'}"
    out = tmp_path / "v2" / "out.mp4"
    proc = _recast(
        "render", str(v2), "--face", faces, "--out", str(out), "--consent", CONSENT,
        home=rendered["home"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"reused 2 of 2 shots (46 of 46 frames; from run {first})" in proc.stdout
    report = json.loads(out.with_name("out_report.json").read_text())
    assert {s["reused_from"] for s in report["per_shot"]} == {first}
    assert report["reuse"]["frames_reused"] == 46
    mine, theirs = list(read_frames(out)), list(read_frames(rendered["out"]))
    assert np.abs(mine[10].astype(int) - theirs[48]).mean() < 3  # the swapped cameraman

    scoped = tmp_path / "scoped" / "out.mp4"
    proc = _recast(
        "render", str(rendered["film"]), "--face", faces, "--out", str(scoped),
        "--consent", CONSENT, "--base", first, "--shots", "2", "--skip-shots", "0",
        home=rendered["home"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"reused 1 of 3 shots (14 of 60 frames; from run {first})" in proc.stdout
    report = json.loads(scoped.with_name("out_report.json").read_text())
    assert report["base_run"] == first and report["spec"]["shots"] == [2]
    before, after = list(read_frames(rendered["out"])), list(read_frames(scoped))
    source = list(read_frames(rendered["film"]))
    assert np.abs(after[5].astype(int) - source[5]).mean() < 3  # shot 0 passed through
    assert np.abs(after[30].astype(int) - before[30]).mean() < 1  # shot 1 from the base
    cache = _recast("cache", home=rendered["home"])
    assert cache.returncode == 0 and "units" in cache.stdout and "runs" in cache.stdout


def test_plain_progress_off_a_terminal(rendered: dict[str, Path]) -> None:
    """Not a terminal here: plain lines as the stages go, then the summary, one line per
    shot with a warning. (The frames-and-fps log lines a task log shows: tests/test_progress.py;
    a laptop render keeps Airflow's log at WARNING.)"""
    stdout = rendered["stdout"].read_text()
    lines = stdout.splitlines()
    assert "recast: probe: started" in lines and "recast: finalize: started" in lines
    swaps = [ln for ln in lines if ln.startswith("recast: swap u") and " done in " in ln]
    assert swaps and "swap: units 1/" in swaps[0]
    assert "\x1b" not in stdout
    summary = lines[next(i for i, ln in enumerate(lines) if ln.startswith("Recast render ")) :]
    shot_lines = [ln for ln in summary if ln.lstrip().startswith("shot ")]
    assert len(shot_lines) == len({ln.split(":")[0] for ln in shot_lines})  # once each
