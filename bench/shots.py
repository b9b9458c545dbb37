"""Shot detection benchmark: our detector against PySceneDetect's own `scenedetect` command.

    .venv/bin/python bench/shots.py [--shots 40] [--size 640x360] [--seed 1] [--no-fast-pans]
                                    [--census] [--repeat 3]

Generates a film of known shots (recast.samples.mixed_shots: hard cuts, dissolves, fades through
black, flashes, fast pans), then runs on the same file, in this process's run:
- `python -m tasks detect-shots` (our stage, as a pod runs it) and `detect_shots()` in-process;
- `scenedetect -i FILM list-scenes` with its defaults (its default detector).
Prints frames per second (wall time, process start included for both commands), the CPU
seconds each command used (its processes and their children: steadier than wall time on a
shared machine), F1 at one frame of tolerance over all boundaries and per transition kind, and
the ratios. Nothing is asserted. Two last lines time both commands on a one-shot film (under
two seconds) of the same size, what each pays once per film (interpreter, imports, probing),
and the seconds per frame beyond that: the ratio a long film tends to. Each command runs
`--repeat` times (3), the two commands taking turns; each one's fastest run counts.
With `--census`, the CLI runs once more with `--census` (faces counted per shot on the same
decode) and the extra seconds it cost are printed on one more line.
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from recast.samples import make_film, mixed_shots  # noqa: E402
from tasks.shots.detect import detect_shots  # noqa: E402
from tasks.storage import read_json  # noqa: E402

TOLERANCE = 1


def f1(found: list[int], truth: list[int]) -> tuple[float, int, int]:
    """(F1, false positives, misses) with each truth matched at most once."""
    unmatched, hits = list(truth), 0
    for frame in sorted(found):
        match = next((t for t in unmatched if abs(t - frame) <= TOLERANCE), None)
        if match is not None:
            unmatched.remove(match)
            hits += 1
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    score = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return score, len(found) - hits, len(truth) - hits


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


REPEAT = 3  # each command runs this many times; its fastest run counts (--repeat)


def timed(*cmds: list[str]) -> list[tuple[float, float]]:
    """(wall seconds, CPU seconds) of each command and the processes it waited for: the least of
    REPEAT runs (a shared machine only ever makes a run slower). The commands take turns: this
    machine's speed drifts from one minute to the next, and a ratio of runs made minutes apart
    would measure the drift."""
    runs: list[list[tuple[float, float]]] = [[] for _ in cmds]
    for _ in range(REPEAT):
        for cmd, kept in zip(cmds, runs, strict=True):
            started, cpu = time.perf_counter(), _children_cpu()
            subprocess.run(cmd, check=True, capture_output=True)
            kept.append((time.perf_counter() - started, _children_cpu() - cpu))
    return [(min(w for w, _ in r), min(c for _, c in r)) for r in runs]


def ours_command(film: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tasks", "detect-shots", str(film), "--out", str(out)]


def scenedetect_command(film: Path, out: Path) -> list[str]:
    scenedetect = str(Path(sys.executable).with_name("scenedetect"))
    return [scenedetect, "-i", str(film), "-o", str(out), "list-scenes", "-q"]


def scenedetect_cuts(out: Path, fps: float) -> list[int]:
    """The cuts `scenedetect list-scenes` wrote to its CSV in `out`."""
    with next(out.glob("*.csv")).open() as handle:
        rows = list(csv.reader(handle))[2:]  # a timecode list line, then the header
    # Start times, not "Start Frame" (1-based): 0-based frame = start seconds x fps.
    return [round(float(row[3]) * fps) for row in rows[1:]]


def report(
    name: str, found: list[int], truth: dict[int, str], frames: int, secs: float, cpu: str = ""
) -> None:
    score, fp, fn = f1(found, list(truth))
    kinds = []
    for kind in ("cut", "dissolve", "fade"):
        wanted = [f for f, k in truth.items() if k == kind]
        hit = sum(any(abs(f - g) <= TOLERANCE for g in found) for f in wanted)
        kinds.append(f"{kind} {hit}/{len(wanted)}")
    print(f"{name:34s} {frames / secs:7.0f} fps  {secs:6.2f} s{cpu}  F1 {score:.3f} "
          f"(fp {fp}, missed {fn}; found {', '.join(kinds)})")  # fmt: skip


def main() -> None:
    global REPEAT
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shots", type=int, default=40)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fps", default="25")
    parser.add_argument("--no-fast-pans", action="store_true")
    parser.add_argument("--census", action="store_true", help="also time detect-shots --census")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="runs per command (fastest)")
    args = parser.parse_args()
    REPEAT = max(1, args.repeat)
    width, height = (int(v) for v in args.size.split("x"))
    shots = mixed_shots(args.shots, args.seed, fast_pans=not args.no_fast_pans)
    starts = list(accumulate(s.frames for s in shots))[:-1]
    truth = {start: shot.transition for start, shot in zip(starts, shots[1:], strict=True)}
    frames = sum(s.frames for s in shots)
    with tempfile.TemporaryDirectory(prefix="recast-bench-shots-") as tmp:
        film = make_film(Path(tmp) / "film.mp4", shots, fps=args.fps, size=(width, height))
        print(f"film: {frames} frames, {width}x{height} @ {args.fps} fps, {len(truth)} boundaries"
              f" ({sum(k == 'cut' for k in truth.values())} cuts, "
              f"{sum(k == 'dissolve' for k in truth.values())} dissolves, "
              f"{sum(k == 'fade' for k in truth.values())} fades)")  # fmt: skip
        out, theirs_out = Path(tmp) / "shots.json", Path(tmp) / "sd"
        (ours_cli, ours_cpu), (theirs_cli, theirs_cpu) = timed(
            ours_command(film, out), scenedetect_command(film, theirs_out)
        )
        ours = [s["start_frame"] for s in read_json(str(out))["shots"][1:]]
        theirs = scenedetect_cuts(theirs_out, float(Fraction(args.fps)))
        started = time.perf_counter()
        in_process = [s.start_frame for s in detect_shots(film).shots[1:]]
        ours_lib = time.perf_counter() - started
        census_line = _census(film, Path(tmp), ours_cli, ours_cpu) if args.census else None
        short, ours_short, theirs_short = _startup(Path(tmp), args.fps, (width, height))
    report("recast detect-shots (CLI)", ours, truth, frames, ours_cli, f" ({ours_cpu:5.2f} s CPU)")
    report("recast detect_shots() in-process", in_process, truth, frames, ours_lib, " " * 15)
    report("scenedetect list-scenes (defaults)", theirs, truth, frames, theirs_cli,
           f" ({theirs_cpu:5.2f} s CPU)")  # fmt: skip
    print(f"speed ratio (CLI vs CLI): {theirs_cli / ours_cli:.2f}x wall, "
          f"{theirs_cpu / ours_cpu:.2f}x CPU  "
          f"(in-process vs their CLI: {theirs_cli / ours_lib:.2f}x)")  # fmt: skip
    print(f"one-shot film ({short} frames): recast {ours_short:.2f} s, scenedetect "
          f"{theirs_short:.2f} s (paid once per film)")  # fmt: skip
    ours_frame = (ours_cli - ours_short) / (frames - short) * 1000
    theirs_frame = (theirs_cli - theirs_short) / (frames - short) * 1000
    print(f"per frame beyond it: recast {ours_frame:.2f} ms, scenedetect {theirs_frame:.2f} ms "
          f"({theirs_frame / ours_frame:.2f}x: the ratio a long film tends to)")  # fmt: skip
    if census_line:
        print(census_line)


def _startup(tmp: Path, fps: str, size: tuple[int, int]) -> tuple[int, float, float]:
    """Both commands on a one-shot film: (its frames, our wall seconds, theirs): what each pays
    per film, not per frame."""
    shot = mixed_shots(1, 0)
    film = make_film(tmp / "short.mp4", shot, fps=fps, size=size)
    (ours, _), (theirs, _) = timed(
        ours_command(film, tmp / "short.json"), scenedetect_command(film, tmp / "sd-short")
    )
    return shot[0].frames, ours, theirs


def _census(film: Path, tmp: Path, plain_wall: float, plain_cpu: float) -> str:
    """detect-shots --census on the same film: its cost over the plain CLI's, and what it found."""
    out, census = tmp / "census-shots.json", tmp / "census.json"
    [(wall, cpu)] = timed([*ours_command(film, out), "--census", str(census)])
    counted = read_json(str(census))
    faces = [s["faces"] for s in counted["shots"]]
    return (f"census (detect-shots --census): +{wall - plain_wall:.2f} s wall "
            f"({wall / plain_wall:.2f}x), +{cpu - plain_cpu:.2f} s CPU; "
            f"{sum(s['samples'] for s in counted['shots'])} frames sampled (every "
            f"{counted['every']}, {counted['width']} px, {counted['detector']}), "
            f"{counted['seconds']:.2f} s counting; shots with faces {sum(f > 0 for f in faces)}"
            f"/{len(faces)}, at most {max(faces)}")  # fmt: skip


if __name__ == "__main__":
    main()
