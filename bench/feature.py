"""A feature-length render, stage by stage: how time, memory, objects and XCom grow with the film.

    .venv/bin/python bench/feature.py [--minutes 10 30] [--size 640x360] [--fps 24]
        [--unit-frames 480] [--one-after-another] [--same-mix] [--profile DIR]
        [--airflow | --airflow-only]

For each length, generates a film (shots of 20-48 frames over eight stills, two of them faces:
the astronaut and the cameraman, who is the one replaced), starts the embedded S3 server, and
runs every stage as the local backend runs it, each `python -m tasks <stage>` its own process,
in the DAG's order: probe, detect-shots, plan, split, swap for every unit (and restore, where
the spec restores: none by default, as the DAG), assemble, finalize. The lengths render in
turns (the one with the fewest stage seconds per minute of film goes next), so that both meet
the same load over the same stretch of time (`--one-after-another`: each whole, in turn).
`--same-mix` makes every film of the shortest one's shots repeated, so that each minute holds
the same content (and faces) at every length, with reuse off (else later units would reuse the
repeats); `--profile DIR` keeps a cProfile of every stage process (slower: for finding what
grows, not for the figures).
Per stage it prints the wall and CPU seconds, the peak RSS of its process (the largest of a
mapped stage's processes), and the bytes of its JSON result (what the DAG hands through XCom);
per film the shots, units and the objects written under the run's prefix. Then, between the
shortest and the longest film, how much each figure grew against the film: time and memory
must grow no faster than the film (memory should stay flat). `--airflow` also renders the
shortest film through recast_render (Airflow's dag.test, local backend) and prints, per task
from Airflow's database, its time less the stage's own seconds and the wait before it: the
per-unit tasks' share is Airflow's overhead per unit, the rest is paid once a render
(`--airflow-only`: that alone).
Figures only; nothing is asserted. On a shared machine read the load average printed beside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from recast.s3server import embedded_s3  # noqa: E402
from tasks import storage  # noqa: E402

BUCKET = "recast"
PROFILE: Path | None = None  # --profile DIR


@dataclass
class Stage:
    seconds: float = 0.0  # wall, summed over a mapped stage's processes
    cpu: float = 0.0  # user + system seconds of its processes (and their children): steadier
    peak_rss: int = 0  # bytes, the largest process
    xcom: int = 0  # bytes of JSON results
    runs: int = 0


@dataclass
class Film:
    minutes: float
    frames: int = 0
    shots: int = 0
    units: int = 0
    faces_swapped: int = 0  # the content's share of work: films of other lengths differ in it
    objects: int = 0
    object_bytes: int = 0
    stages: dict[str, Stage] = field(default_factory=dict)


def _film(
    folder: Path, minutes: float, fps: str, size: tuple[int, int], block: float | None = None
) -> Path:
    """`minutes` of mixed shots; with `block`, that many minutes' shots repeated (`--same-mix`)."""
    from recast.samples import make_film, mixed_shots

    count = lambda m: int(m * 60 * float(Fraction(fps)) / 34) + 1  # noqa: E731  34 frames a shot
    folder.mkdir(parents=True, exist_ok=True)
    if block is None:
        shots = mixed_shots(count(minutes), seed=18)
    else:
        shots = mixed_shots(count(block), seed=18) * round(minutes / block)
    return make_film(folder / "film.mp4", shots, fps=fps, size=size)


# A process's peak RSS (ru_maxrss) keeps the high-water mark of the memory it was started
# from: exec'd straight from this bench, every stage would read at least the bench's own RSS
# (the 340-546 MiB every stage showed before). So each stage is the child of a small launcher
# (a bare interpreter) that reports the stage's own figure, its own floor included.
_LAUNCH = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _stage(env: dict[str, str], record: Stage, folder: Path, *argv: str) -> dict[str, Any]:
    """Run `python -m tasks ARGV` as the local backend does; its result. Wall and CPU time,
    the stage process's own peak RSS (`_LAUNCH`) and the result's size go to `record`."""
    result = folder / f"result-{time.monotonic_ns()}.json"
    rss = result.with_suffix(".rss")
    cmd = [sys.executable, "-c", _LAUNCH, str(rss)]
    cmd += [sys.executable, "-m", "tasks", "--result", str(result), *argv]
    if PROFILE is not None:  # --profile: each stage process under cProfile (slower; not timed)
        PROFILE.mkdir(parents=True, exist_ok=True)
        name = f"{env['RECAST_BENCH_FILM']}-{argv[0]}-{record.runs:03d}.prof"
        cmd[5:6] = ["-m", "cProfile", "-o", str(PROFILE / name), "-m"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    log = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv[:1])} failed: {log[-2000:]}")
    record.seconds += time.perf_counter() - started
    record.peak_rss = max(record.peak_rss, int(rss.read_text()) * 1024)
    record.cpu += usage.ru_utime + usage.ru_stime
    text = result.read_text()
    record.xcom += len(text.encode())
    record.runs += 1
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _faces(folder: Path) -> tuple[str, str]:
    source, reference = folder / "source.png", folder / "reference.png"
    Image.fromarray(np.asarray(data.astronaut())).save(source)
    Image.fromarray(np.asarray(data.camera())).convert("RGB").save(reference)
    return (
        storage.upload(source, f"s3://{BUCKET}/faces/source.png"),
        storage.upload(reference, f"s3://{BUCKET}/faces/reference.png"),
    )


def render_stages(
    film: Path, found: Film, unit_frames: int, env: dict[str, str], reuse: bool = True
) -> Iterator[None]:
    """Every stage of one render, each in its own process, the figures into `found`; yields
    after each process, so that two lengths can take turns (`interleave`)."""
    from tasks.layout import RunLayout
    from tasks.spec import RenderSpec

    minutes = found.minutes
    env = {**env, "RECAST_BENCH_FILM": f"{minutes:g}min"}
    with tempfile.TemporaryDirectory(prefix="recast-feature-") as tmp:
        folder = Path(tmp)
        source, reference = _faces(folder)
        # One key per length: in turns, each render must read its own film.
        asset = storage.upload(film, f"s3://{BUCKET}/in/{minutes:g}min-{film.name}")
        run = f"bench-{minutes:g}min"
        layout = RunLayout(f"s3://{BUCKET}/runs/{run}")
        spec = {"asset": asset, "faces": [{"source": source, "reference": reference}],
                "consent_reference": "BENCH-SYNTHETIC", "unit_frames": unit_frames,
                "max_units": 1000, "reuse": reuse}  # fmt: skip
        storage.write_json(layout.spec, spec)
        restores = RenderSpec.model_validate(spec).restores()
        stage = lambda name: found.stages.setdefault(name, Stage())  # noqa: E731
        results: dict[str, Any] = {"run_id": run, "stages": {}, "swaps": [], "restores": []}
        results["stages"]["probe"] = _stage(env, stage("probe"), folder, "probe", asset,
                                            "--out", layout.probe)  # fmt: skip
        found.frames = int(results["stages"]["probe"]["frame_count"])
        yield
        results["stages"]["detect_shots"] = _stage(
            env, stage("detect_shots"), folder, "detect-shots", asset, "--out", layout.shots,
            "--census", layout.census,
        )  # fmt: skip
        found.shots = int(results["stages"]["detect_shots"]["shots"])
        yield
        units = _stage(env, stage("plan"), folder, "plan", "--run", layout.prefix)["units"]
        found.units = len(units)
        yield
        results["stages"]["split"] = _stage(env, stage("split"), folder, "split", "--asset",
                                            asset, "--run", layout.prefix)  # fmt: skip
        yield
        for unit in units:
            results["swaps"].append(_stage(env, stage("swap"), folder, "swap", "--run",
                                           layout.prefix, "--unit", unit))  # fmt: skip
            found.faces_swapped += int(results["swaps"][-1]["faces_swapped"])
            yield
            if not restores:  # as the DAG: no restore task runs (RenderSpec.restores)
                continue
            results["restores"].append(_stage(env, stage("restore"), folder, "restore", "--run",
                                              layout.prefix, "--unit", unit))  # fmt: skip
            yield
        assembled = _stage(env, stage("assemble"), folder, "assemble", "--asset", asset,
                           "--run", layout.prefix)  # fmt: skip
        results["stages"]["assemble"] = assembled
        storage.write_json(layout.results, results)
        yield
        _stage(env, stage("finalize"), folder, "finalize", "--asset", asset, "--run",
               layout.prefix)  # fmt: skip
        pages = storage.client().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=BUCKET, Prefix=f"runs/{run}/"):
            for item in page.get("Contents", []):
                found.objects += 1
                found.object_bytes += int(item["Size"])


def interleave(runs: list[tuple[Film, Iterator[None]]]) -> None:
    """Run the renders' processes in turns, always the render with the fewest stage seconds
    per minute of film so far, so that each length meets the same load over the same stretch
    of time (on a shared machine, growth measured one length after the other is mostly the
    load's). A length that grows faster than the film falls behind and finishes alone."""
    left = set(range(len(runs)))
    while left:
        turn = min(left, key=lambda i: sum(s.seconds for s in runs[i][0].stages.values())
                   / runs[i][0].minutes)  # fmt: skip
        try:
            next(runs[turn][1])
        except StopIteration:
            left.remove(turn)


def airflow_overhead(film: Path, unit_frames: int, folder: Path) -> None:
    """Render `film` through recast_render (Airflow's dag.test, local backend) and print where
    the time outside the stages' own work went (`airflow_breakdown`)."""
    from recast.local_render import FaceArg, render

    source, reference = folder / "source.png", folder / "reference.png"
    # dag.test runs the tasks in this process: a client cached for the bench's own S3 server
    # would look for the render's inputs there, not on the server render() starts.
    storage.client.cache_clear()
    load = os.getloadavg()
    started = time.time()
    report, _ = render(film, [FaceArg(source, reference)], folder / "out.mp4",
                       extra_conf={"unit_frames": unit_frames, "max_units": 1000,
                                   "consent_reference": "BENCH-SYNTHETIC"},
                       log_file=folder / "airflow.log")  # fmt: skip
    wall = time.time() - started
    units = int(report["units"])
    print(f"\nAirflow render of the {film.stat().st_size / 2**20:.0f} MiB film: {wall:.1f} s "
          f"wall, {units} units; load average {load} -> {os.getloadavg()}")  # fmt: skip
    old = (wall - sum(report["seconds"].values())) / units
    print(f"    as measured before (wall less the summary's stage seconds, per unit): {old:.2f} s")
    airflow_breakdown(report["run_id"], started, wall, units)


def airflow_breakdown(run_id: str, started: float, wall: float, units: int) -> None:
    """Per task of the run (Airflow's database): its time less the stage's own seconds (its
    JSON result), and the wait before it. The per-unit tasks' share is the overhead that grows
    with the film; the rest is paid once a render."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(TaskInstance.run_id == run_id).all()
        rows = sorted((t.start_date.timestamp(), t.end_date.timestamp(), t.task_id, t.map_index)
                      for t in tis if t.start_date and t.end_date)  # fmt: skip
        xcoms = session.query(XComModel).filter(XComModel.run_id == run_id).all()
        values = {(x.task_id, x.map_index, x.key): x.value for x in xcoms}
    xcom_bytes = sum(len(json.dumps(v)) for v in values.values())
    per_task: dict[str, list[float]] = {}  # task -> [count, task seconds, stage seconds, waits]
    previous = started
    for begun, ended, task_id, index in rows:
        value = values.get((task_id, index, "return_value"))
        value = json.loads(value) if isinstance(value, str) else value
        own = value.get("seconds") if isinstance(value, dict) else None
        row = per_task.setdefault(task_id, [0, 0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += ended - begun
        row[2] += own if isinstance(own, float) else 0.0
        row[3] += max(0.0, begun - previous)
        previous = max(previous, ended)
    print(f"    {'task':<14}{'runs':>5}{'task s':>9}{'stage s':>9}{'outside s':>10}{'wait s':>8}")
    for task_id, (count, spent, own, wait) in per_task.items():
        print(f"    {task_id:<14}{count:5.0f}{spent:9.1f}{own:9.1f}{spent - own:10.1f}{wait:8.1f}")
    first, last = rows[0][0] - started, started + wall - previous
    mapped = [per_task[t] for t in ("swap", "restore") if t in per_task]
    per_unit = sum(r[1] - r[2] + r[3] for r in mapped) / units
    stages = sum(r[2] for r in per_task.values())
    fixed = wall - stages - per_unit * units
    print(
        f"    before the first task (S3 server, Airflow's database, DAG parse, run set-up): "
        f"{first:.1f} s; after the last (outputs fetched, work area): {last:.1f} s"
    )
    print(f"    overhead per unit (swap and restore tasks: time outside the stage, and the "
          f"wait before each): {per_unit:.2f} s; paid once a render: {fixed:.1f} s; "
          f"XCom {xcom_bytes} bytes")  # fmt: skip


def _print(film: Film) -> None:
    total = sum(s.seconds for s in film.stages.values())
    print(f"\n{film.minutes:g} min film: {film.frames} frames, {film.shots} shots, "
          f"{film.units} units, {film.faces_swapped} faces swapped "
          f"({film.faces_swapped / max(film.frames, 1):.3f} a frame), "
          f"{film.objects} objects ({film.object_bytes / 2**20:.0f} MiB) under the run prefix, "
          f"{total:.0f} s of stages")  # fmt: skip
    print(f"    {'stage':<14}{'wall s':>9}{'CPU s':>9}{'CPU ms/frame':>13}{'procs':>7}"
          f"{'peak RSS MiB':>14}{'XCom bytes':>12}")  # fmt: skip
    for name, s in film.stages.items():
        print(f"    {name:<14}{s.seconds:9.1f}{s.cpu:9.1f}{1000 * s.cpu / film.frames:13.2f}"
              f"{s.runs:7d}{s.peak_rss / 2**20:14.0f}{s.xcom:12d}")  # fmt: skip


def _growth(short: Film, long: Film) -> None:
    scale = long.frames / short.frames
    print(f"\ngrowth from {short.minutes:g} to {long.minutes:g} min (film x{scale:.2f}):")
    for name, s in long.stages.items():
        base = short.stages[name]
        time_x = s.seconds / base.seconds if base.seconds else float("nan")
        rss_x = s.peak_rss / base.peak_rss if base.peak_rss else float("nan")
        cpu_x = s.cpu / base.cpu if base.cpu else float("nan")
        print(f"    {name:<14} time x{time_x:5.2f}  CPU x{cpu_x:5.2f}  peak RSS x{rss_x:5.2f}  "
              f"XCom x{s.xcom / max(base.xcom, 1):5.2f}")  # fmt: skip
    wall = [sum(st.seconds for st in f.stages.values()) for f in (short, long)]
    cpu = [sum(st.cpu for st in f.stages.values()) for f in (short, long)]
    print(f"    {'all stages':<14} time x{wall[1] / wall[0]:5.2f}  CPU x{cpu[1] / cpu[0]:5.2f}")
    print(f"    {'objects':<14} x{long.objects / max(short.objects, 1):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 30])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", default="24")
    parser.add_argument("--unit-frames", type=int, default=480)
    parser.add_argument("--one-after-another", action="store_true",
                        help="each length's render whole, not the lengths in turns")  # fmt: skip
    parser.add_argument("--airflow", action="store_true", help="also the Airflow overhead")
    parser.add_argument("--same-mix", action="store_true",
                        help="each film the shortest one's shots repeated (lengths multiples of "
                        "it), reuse off: the same content per minute at every length")  # fmt: skip
    parser.add_argument("--profile", type=Path, help="write each stage process's cProfile here")
    parser.add_argument("--airflow-only", action="store_true", help="only the Airflow overhead")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    global PROFILE
    PROFILE = args.profile
    with tempfile.TemporaryDirectory(prefix="recast-bench-feature-") as tmp, embedded_s3() as s3:
        folder = Path(tmp)
        os.environ.update(s3.env())
        os.environ.setdefault("RECAST_HOME", str(folder / "home"))
        # No unit cache: the Airflow render must not reuse units an earlier run made.
        os.environ["RECAST_UNIT_CACHE"] = "off"
        env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}",
               "RECAST_UNIT_CACHE": "off", "RECAST_LOG_LEVEL": "WARNING"}  # fmt: skip
        storage.client().create_bucket(Bucket=BUCKET)
        films, runs = [], []
        for minutes in [] if args.airflow_only else sorted(args.minutes):
            started = time.perf_counter()
            block = min(args.minutes) if args.same_mix else None
            path = _film(folder / f"{minutes:g}", minutes, args.fps, (width, height), block)
            print(f"{minutes:g} min film generated in {time.perf_counter() - started:.0f} s; "
                  f"load average {os.getloadavg()}", flush=True)  # fmt: skip
            films.append(Film(minutes))
            runs.append(render_stages(path, films[-1], args.unit_frames, env, not args.same_mix))
        if films:
            started = time.perf_counter()
            print(f"rendering; load average {os.getloadavg()}", flush=True)
            if args.one_after_another:
                for run in runs:
                    for _ in run:
                        pass
            else:
                interleave(list(zip(films, runs, strict=True)))
            print(f"rendered in {time.perf_counter() - started:.0f} s; "
                  f"load average {os.getloadavg()}", flush=True)  # fmt: skip
        for film in films:
            _print(film)
        if len(films) > 1:
            _growth(films[0], films[-1])
        if args.airflow or args.airflow_only:
            shortest = folder / f"{min(args.minutes):g}" / "film.mp4"
            if not shortest.is_file():
                _film(shortest.parent, min(args.minutes), args.fps, (width, height))
            _faces(folder)
            print(f"\n{min(args.minutes):g} min film through Airflow:")
            airflow_overhead(shortest, args.unit_frames, folder)


if __name__ == "__main__":
    main()
