"""Split + assemble against one plain ffmpeg transcode of the same film at the same settings.

    .venv/bin/python bench/split_assemble.py [--seconds 30] [--rounds 2] [--size 1280x720]
        [--mezzanine ffv1]
        [--gop 48 [--no-scenecut]] [--on-cuts] [--unit-frames 480]

Generates a film (H.264 + AAC, shots of 1-2 s), plans units with the real planner (unit cap 480
frames, or `--unit-frames`), then times in this process's run: `split_units` (one decode pass,
one mezzanine per unit) + `assemble` (review: H.264 CRF 18 medium + audio copied), against
`ffmpeg -i FILM -c:v libx264 -preset medium -crf 18 -pix_fmt yuv420p -c:a copy`. With
`--master` the master preset (ProRes 422 HQ + PCM) is timed against the same ffmpeg transcode
to ProRes; `--with-master` times the review alone, then the review and the master from one
decode of the units (the assemble stage's way when the spec asks for a master), and prints the
master's cost apart. Assemble cuts the units into runs encoded side by side (one per 4 CPUs, 30 s
of film or more each, `--jobs N` to choose). Prints wall and CPU seconds (this process and its
ffmpeg children: CPU is the steadier figure on a shared machine) and both ratios; nothing is
asserted. `--mezzanine h264` is the lossless x264 mezzanine, `ffv1` lossless FFV1 (see
tasks/media/frames.py).

`--gop N` re-encodes the film as a long-GOP source (x264, 2 B-frames, a keyframe at least every
N frames; `--no-scenecut`: only those, so most cuts are not keyframes) before anything is timed.
The plan then uses the source's clean starts, as the probe stage records them (the time that
scan takes is printed apart); `--on-cuts` plans without them, as before.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from recast.samples import make_film, varied_shots  # noqa: E402
from tasks.media.assemble import assemble_all  # noqa: E402
from tasks.media.copy_units import copy_ranges, copy_starts, read_packets  # noqa: E402
from tasks.media.packets import scan_packets  # noqa: E402
from tasks.media.probe import probe  # noqa: E402
from tasks.media.split import LOSSLESS, split_units  # noqa: E402
from tasks.shots.plan import plan_units  # noqa: E402
from tasks.spec import Probe, Shot, ShotList, UnitPlan  # noqa: E402

PLAIN = {
    "review": ["-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p",
               "-c:a", "copy", "-movflags", "+faststart"],
    "master": ["-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le",
               "-c:a", "pcm_s24le"],
}  # fmt: skip


def cpu() -> float:
    """CPU seconds used so far by this process and the children it waited for."""
    own, kids = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def shot_list(lengths: list[int], fps: str) -> ShotList:
    shots, start = [], 0
    for i, length in enumerate(lengths):
        shots.append(Shot(index=i, start_frame=start, end_frame=start + length))
        start += length
    return ShotList(fps=fps, frame_count=start, shots=shots)


def long_gop(film: Path, out: Path, gop: int, scenecut: bool) -> Path:
    """`film` again as x264 with B-frames and keyframes at most `gop` frames apart."""
    params = f"keyint={gop}" + ("" if scenecut else ":scenecut=0")
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(film), "-c:v", "libx264", "-preset",
           "veryfast", "-crf", "18", "-bf", "2", "-x264-params", params]  # fmt: skip
    subprocess.run([*cmd, "-c:a", "copy", str(out)], check=True)
    return out


def time_ours(
    args: argparse.Namespace,
    film: Path,
    info: Probe,
    plan: UnitPlan,
    packets: object,
    work: Path,
    delivery: str,
) -> dict[str, float]:
    """Split + assemble of the review (or master) film, then (`--with-master`) review and master
    from one decode of the same units: wall and CPU seconds of each."""
    started, cpu_at = time.perf_counter(), cpu()
    parts = split_units(
        film, plan.units, work / "units", mezzanine=args.mezzanine, copy=not args.no_copy
    )
    split_s, cpu_split = time.perf_counter() - started, cpu() - cpu_at
    on_keys = len(copy_ranges(packets, plan.units)) if packets else 0  # type: ignore[arg-type]
    lossless = args.mezzanine in LOSSLESS and not args.no_copy
    copied = on_keys if on_keys == len(parts) and lossless else 0
    print(f"units on the source's keyframes: {on_keys} of {len(parts)}, copied: {copied}")
    suffix = ".mov" if delivery == "master" else ".mp4"
    videos, frames = [parts[u.id] for u in plan.units], [u.frames for u in plan.units]
    started, cpu_at = time.perf_counter(), cpu()
    assemble_all(videos, film, {delivery: work / f"out{suffix}"}, info.fps, info=info,  # type: ignore[dict-item]
                 unit_frames=frames, jobs=args.jobs)  # fmt: skip
    found = {"split": split_s, "assemble": time.perf_counter() - started,
             "cpu_split": cpu_split, "cpu_assemble": cpu() - cpu_at}  # fmt: skip
    if args.with_master:
        started, cpu_at = time.perf_counter(), cpu()
        outs = {"review": work / "both.mp4", "master": work / "both.mov"}
        assemble_all(videos, film, outs, info.fps, info=info, unit_frames=frames,  # type: ignore[arg-type]
                     jobs=args.jobs)  # fmt: skip
        found["both"], found["cpu_both"] = time.perf_counter() - started, cpu() - cpu_at
    return found


def time_plain(film: Path, work: Path, delivery: str) -> dict[str, float]:
    """One plain ffmpeg transcode of the film at the same settings: wall and CPU seconds."""
    started, cpu_at = time.perf_counter(), cpu()
    suffix = ".mov" if delivery == "master" else ".mp4"
    cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(film), *PLAIN[delivery]]
    subprocess.run([*cmd, str(work / f"plain{suffix}")], check=True)
    return {"wall": time.perf_counter() - started, "cpu": cpu() - cpu_at}


def report(round_: int, frame_count: int, ours: dict[str, float], plain: dict[str, float]) -> None:
    wall = ours["split"] + ours["assemble"]
    cpu_s = ours["cpu_split"] + ours["cpu_assemble"]
    print(f"round {round_ + 1} ({'ours first' if round_ % 2 == 0 else 'plain first'}):")
    print(f"  split {ours['split']:.2f} s + assemble {ours['assemble']:.2f} s = {wall:.2f} s "
          f"({frame_count / wall:.0f} fps); CPU {ours['cpu_split']:.2f} + "
          f"{ours['cpu_assemble']:.2f} = {cpu_s:.2f} s")  # fmt: skip
    print(f"  plain ffmpeg transcode: {plain['wall']:.2f} s "
          f"({frame_count / plain['wall']:.0f} fps); CPU {plain['cpu']:.2f} s")  # fmt: skip
    print(f"  ratio (split + assemble) / plain: {wall / plain['wall']:.2f}x wall, "
          f"{cpu_s / plain['cpu']:.2f}x CPU")  # fmt: skip
    if "both" in ours:
        print(f"  assemble review + master from one decode: {ours['both']:.2f} s wall, "
              f"{ours['cpu_both']:.2f} s CPU; the master's cost "
              f"{ours['both'] - ours['assemble']:.2f} s wall, "
              f"{ours['cpu_both'] - ours['cpu_assemble']:.2f} s CPU over the review "
              "alone")  # fmt: skip
    print(f"  load average (1, 5, 15 min): {os.getloadavg()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", default="25")
    parser.add_argument("--mezzanine", default="ffv1", choices=["ffv1", "prores", "h264"])
    parser.add_argument("--master", action="store_true")
    parser.add_argument(
        "--no-copy", action="store_true", help="encode every unit even on the source's keyframes"
    )
    parser.add_argument("--gop", type=int, help="re-encode the source with this keyframe interval")
    parser.add_argument("--no-scenecut", action="store_true", help="no keyframes at the cuts")
    parser.add_argument("--on-cuts", action="store_true", help="plan without the clean starts")
    parser.add_argument("--unit-frames", type=int, default=480, help="the plan's frame cap")
    parser.add_argument("--with-master", action="store_true", help="also review + master")
    parser.add_argument("--jobs", type=int, help="assemble's runs (default: one per 4 CPUs)")
    parser.add_argument("--rounds", type=int, default=1, help="alternated rounds of both")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    delivery = "master" if args.master else "review"
    rate = float(Fraction(args.fps))
    lengths = [25 + (i * 13) % 26 for i in range(int(args.seconds * rate / 37) + 1)]
    with tempfile.TemporaryDirectory(prefix="recast-bench-split-") as tmp_dir:
        tmp = Path(tmp_dir)
        film = make_film(tmp / "film.mp4", varied_shots(lengths), fps=args.fps,
                         size=(width, height))  # fmt: skip
        if args.gop:
            film = long_gop(film, tmp / "long_gop.mp4", args.gop, not args.no_scenecut)
        info = probe(film)
        started = time.perf_counter()
        scan = scan_packets(film)
        packets, starts = read_packets(scan, info), copy_starts(scan, info)
        scan_s = time.perf_counter() - started
        shots = shot_list(lengths, info.fps)
        cap = args.unit_frames
        plan = plan_units(shots, max_unit_frames=cap, seed="bench",
                          starts=None if args.on_cuts else starts)  # fmt: skip
        on_cuts = plan_units(shots, max_unit_frames=cap, seed="bench")
        moved = len({u.start_frame for u in plan.units} - {u.start_frame for u in on_cuts.units})
        gop = f"GOP {args.gop}{'' if args.no_scenecut else ' + scene cuts'}" if args.gop else ""
        print(f"film: {info.frame_count} frames, {width}x{height} @ {info.fps} fps, "
              f"{len(lengths)} shots, {len(plan.units)} units, mezzanine {args.mezzanine}, "
              f"delivery {delivery}{', ' + gop if gop else ''}")  # fmt: skip
        clean = "none" if starts is None else sum(e - s for s, e in starts.ranges)
        print(f"clean starts: {clean} (packet scan {scan_s:.2f} s, the probe's own); plan "
              f"{'on the cuts' if args.on_cuts else 'with them'}: {moved} of "
              f"{len(on_cuts.units)} unit starts moved off the cuts")  # fmt: skip

        totals: list[tuple[dict[str, float], dict[str, float]]] = []
        for round_ in range(args.rounds):
            # Alternated: ours first in even rounds, the plain transcode first in odd ones.
            order = ("ours", "plain") if round_ % 2 == 0 else ("plain", "ours")
            for which in order:
                work = tmp / f"round{round_}-{which}"
                work.mkdir()
                if which == "ours":
                    ours = time_ours(args, film, info, plan, packets, work, delivery)
                else:
                    plain = time_plain(film, work, delivery)
                shutil.rmtree(work)
            report(round_, info.frame_count, ours, plain)
            totals.append((ours, plain))
    if len(totals) > 1:
        wall = sum(o["split"] + o["assemble"] for o, _ in totals) / sum(
            p["wall"] for _, p in totals
        )
        cpu_x = sum(o["cpu_split"] + o["cpu_assemble"] for o, _ in totals) / sum(
            p["cpu"] for _, p in totals
        )
        print(f"all {len(totals)} rounds: {wall:.2f}x wall, {cpu_x:.2f}x CPU")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
