"""Orchestration cost: a generated many-shot film through recast_render on the local backend.

    .venv/bin/python bench/orchestration.py [--shots 200] [--frames-per-shot 8] [--unit-frames 64]

Prints the wall time of the render, the compute the stages report (summed over every stage and
unit), the difference per work unit (what Airflow, process start-up and S3 hand-offs cost each
unit), and how long each DAG file takes to parse. Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]


def _film(folder: Path, shots: int, frames: int, size: tuple[int, int]) -> Path:
    from recast.samples import make_film, varied_shots

    return make_film(folder / "film.mp4", varied_shots([frames] * shots), size=size)


def _face(folder: Path) -> Path:
    path = folder / "astronaut.png"
    Image.fromarray(np.asarray(data.astronaut())).save(path)
    return path


def parse_times() -> dict[str, float]:
    """Seconds to parse each DAG file, as the dag-processor does (DagBag's own stats)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    return {s.file.rsplit("/", 1)[-1]: s.duration.total_seconds() for s in bag.dagbag_stats}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=200)
    p.add_argument("--frames-per-shot", type=int, default=8, help="8: the shortest shot kept")
    p.add_argument("--unit-frames", type=int, default=64, help="longest work unit, in frames")
    p.add_argument("--size", default="320x180")
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory(prefix="recast-bench-") as tmp:
        folder = Path(tmp)
        os.environ.setdefault("RECAST_HOME", str(folder / "home"))
        from recast.local_render import FaceArg, render

        started = time.perf_counter()
        film = _film(folder, args.shots, args.frames_per_shot, (width, height))
        built = time.perf_counter() - started
        started = time.perf_counter()
        report, _ = render(
            film,
            [FaceArg(_face(folder))],
            folder / "out.mp4",
            extra_conf={
                "unit_frames": args.unit_frames,
                "max_units": 1000,
                "consent_reference": "BENCH-SYNTHETIC",
            },
            log_file=folder / "airflow.log",
        )
        wall = time.perf_counter() - started
        parse = parse_times()

    seconds = report["seconds"]
    compute = sum(seconds.values())
    units = report["units"]
    print(f"film: {args.shots} shots x {args.frames_per_shot} frames at {args.size}")
    print(f"  ({report['frames']} frames, built in {built:.1f}s)")
    print(f"render wall time       {wall:8.1f} s   ({report['shots']} shots, {units} units)")
    print(f"summed stage compute   {compute:8.1f} s")
    for stage, value in seconds.items():
        print(f"    {stage:<18} {value:8.1f} s")
    overhead = wall - compute
    print(f"overhead               {overhead:8.1f} s   ({overhead / units:.2f} s/unit)")
    print("DAG parse time:")
    for name, value in sorted(parse.items()):
        print(f"    {name:<22} {value * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
