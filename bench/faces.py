"""Face engine benchmark: frames per second per stage, batching gain, pipeline efficiency.

    .venv/bin/python bench/faces.py [--frames 8] [--no-gfpgan] [--speed-only] [--rounds 2]

First the swap stage's path of before issue 19 (`TODAY`: CenterFace at 640 on every frame,
identity re-checked every 12 frames, onnxruntime's threads spinning, the source pasted as
aligned, every frame encoded; `quiet`: the same without the spinning) against the default
(`FAST`: pose following, and unchanged frames keep the source's packets), in alternating runs
on the same 854x480 film, with one actor mapped among six faces and with nobody matched:
frames per second (wall and per CPU-second), step seconds, identity and flicker figures.

For the offline default (CenterFace + classical swap) and the neural path on contract-shaped
models (ArcFace, INSwapper-128 and a small GFPGANv1Clean built by tests/faces/contract_models.py,
random weights; detection stays CenterFace, as no SCRFD stand-in can find real faces), at 720p
and 1080p with one and three faces. The contract models are tiny, so neural swap/restore
figures measure the code around the model (alignment, batching, paste-back), not the model.
The real GFPGANv1Clean architecture (86 M parameters, random weights) is timed per face.
Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "faces")]

from contract_models import neural_store  # noqa: E402

from tasks.faces import FaceEngine, Mapping, faces_log, pipeline, pose  # noqa: E402
from tasks.faces.backend import Backend, ClassicalSwapper, build_backend, load_restorer  # noqa: E402
from tasks.faces.detect import detect_faces  # noqa: E402
from tasks.faces.masks import MaskSpec  # noqa: E402
from tasks.faces.settings import Settings  # noqa: E402
from tasks.media.frames import FrameWriter, read_frames  # noqa: E402
from tasks.models import ModelStore  # noqa: E402
from tasks.stages.swap import UnitSwap  # noqa: E402

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def _people() -> list[np.ndarray]:
    """Three real faces: the astronaut and two of insightface's t1 sample (read, not copied)."""
    import insightface

    t1 = cv2.cvtColor(
        cv2.imread(str(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg")),
        cv2.COLOR_BGR2RGB,
    )
    crops = []
    for face in sorted(detect_faces(t1), key=lambda f: f.bbox[0])[1:4:2]:
        x1, y1, x2, y2 = (int(v) for v in face.bbox)
        pad = (x2 - x1) // 2
        crops.append(
            np.ascontiguousarray(t1[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad])
        )
    return [data.astronaut(), *crops]


def synth(
    size: tuple[int, int], faces: int, count: int, people: list[np.ndarray]
) -> list[np.ndarray]:
    """`count` frames with `faces` faces, each about a third of the frame high, drifting."""
    width, height = size
    side = height // 3
    base = np.full((height, width, 3), 90, np.uint8)
    for i, person in enumerate(people[:faces]):
        x = width // 8 + i * width // 3
        base[height // 3 : height // 3 + side, x : x + side] = cv2.resize(person, (side, side))
    return [np.ascontiguousarray(np.roll(base, 2 * k, axis=1)) for k in range(count)]


def rate(frames: int, seconds: float) -> str:
    return f"{frames / seconds:8.1f}" if seconds > 0 else "     n/a"


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def stage_table(backends: dict[str, Backend], restorer: Any, count: int) -> None:
    people = _people()
    print(f"\nframes per second per stage ({count} frames per row; restore: contract GFPGAN)")
    print(f"{'path':8} {'size':6} {'faces':>5} {'detect':>8} {'det x1':>8} {'swap':>8} "
          f"{'paste':>8} {'restore':>8} {'encode':>8}")  # fmt: skip
    for name, backend in backends.items():
        for label, size in SIZES.items():
            for faces in (1, 3):
                frames = synth(size, faces, count, people)
                row = _row(backend, FaceEngine([Mapping(source=people[0])], backend=backend),
                           frames, restorer)  # fmt: skip
                print(f"{name:8} {label:6} {faces:5d} " + " ".join(rate(count, s) for s in row))


def _row(
    backend: Backend, engine: FaceEngine, frames: list[np.ndarray], restorer: Any
) -> list[float]:
    """Seconds for: detection (batched, one by one), swap, paste, restore, encode."""
    one_by_one = timed(lambda: [backend.detector.detect_batch([f]) for f in frames])
    results = engine.process_batch(frames)
    seconds = engine.timings.seconds
    jobs = [(i, face) for i, r in enumerate(results) for face in r.swapped]
    canvases = [r.frame.copy() for r in results]
    restore = timed(lambda: restorer.apply(canvases, jobs, 0.8))
    height, width = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        writer = FrameWriter(Path(tmp) / "out.mkv", width, height, "24")
        encode = timed(lambda: [writer.write(r.frame) for r in results])
        writer.close()
    paste = seconds.get("paste", 0.0)
    return [seconds["detect"], one_by_one, seconds["swap"], paste, restore, encode]


def batching(neural: Backend, count: int) -> None:
    """Swap model calls: all crops of `count` 1080p frames with 3 faces, batched vs one by one."""
    people = _people()
    frames = synth(SIZES["1080p"], 3, count, people)
    swapper = neural.swapper.inswapper  # type: ignore[attr-defined]
    source = detect_faces(people[0])[0]
    latent = neural.swapper.prepare(people[0], source)
    faces = [face for frame, found in zip(frames, neural.detector.detect_batch(frames), strict=True)
             for face in found]  # fmt: skip
    crops = [swapper.align(frames[0], face)[0] for face in faces]
    swapper.infer(crops[:2], [latent] * 2)  # warm-up
    batched = min(timed(lambda: swapper.infer(crops, [latent] * len(crops))) for _ in range(3))
    single = min(timed(lambda: [swapper.infer_one(c, latent) for c in crops]) for _ in range(3))
    print(f"\nneural swap, {len(crops)} crops: batched {batched * 1000:.1f} ms, "
          f"one by one {single * 1000:.1f} ms, ratio {single / batched:.2f}x")  # fmt: skip
    detect_b = timed(lambda: neural.detector.detect_batch(frames))
    detect_1 = timed(lambda: [neural.detector.detect_batch([f]) for f in frames])
    print(f"CenterFace detection, {count} frames of 1080p: batched {detect_b * 1000:.0f} ms, "
          f"one by one {detect_1 * 1000:.0f} ms, ratio {detect_1 / detect_b:.2f}x")  # fmt: skip


def efficiency(backends: dict[str, Backend], count: int) -> None:
    """A whole unit through decode -> engine -> encode, as the swap stage runs it."""
    people = _people()
    print(f"\npipeline efficiency (1080p, 3 faces, {count} frames, FFV1 in and out)")
    for name, backend in backends.items():
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "source.mkv"
            with FrameWriter(source, *SIZES["1080p"], "24") as writer:
                for frame in synth(SIZES["1080p"], 3, count, people):
                    writer.write(frame)
            engine = FaceEngine([Mapping(source=people[0])], backend=backend)
            work = UnitSwap(engine, [0] * count, Path(tmp) / "out.mkv", "24")
            batches = pipeline.batches(read_frames(source), lambda i: 0, 8)
            stats = pipeline.run(batches, work.infer, work.write, 2)
            work.close()
            inference = engine.timings.inference()
            busy = stats.busy
            print(f"{name:8} wall {stats.wall:6.2f} s, inference {inference:6.2f} s, "
                  f"decode {busy['decode']:5.2f} s, encode {busy['encode']:5.2f} s, "
                  f"efficiency {inference / stats.wall:.2f}, "
                  f"{count / stats.wall:.1f} fps")  # fmt: skip


# onnxruntime's threads spun while idle before issue 19 (its default); `TODAY_QUIET` is that
# detection path with them quiet, to tell the two gains apart.
# Today's paths paste through the region mask alone (occlusion was off by default then); the
# default path pays for its occlusion mask.
TODAY = Settings(detect_side=640, detect_every=1, refine_side=0, reid_every=12, ort_spin=True)
TODAY_QUIET = replace(TODAY, ort_spin=False)
FAST = Settings.from_env()  # the defaults (or RECAST_DETECT_* as set): scans, refined faces
PATHS = {"today": TODAY, "quiet": TODAY_QUIET, "fast": FAST}
MASKS = {"today": MaskSpec(("region",)), "quiet": MaskSpec(("region",)), "fast": MaskSpec()}


def _spin(settings: Settings) -> None:
    """CenterFace's session is built once per process from the environment: rebuild it with
    the path's thread setting (outside the timed part: the engine builds it on its sources)."""
    from tasks.faces import detect

    os.environ["RECAST_ORT_SPIN"] = str(int(settings.ort_spin))
    detect._session.cache_clear()


def pan(count: int) -> list[np.ndarray]:
    """`count` frames of 854x480: t1's six people, the camera panning slowly across them."""
    from face_samples import t1_image

    wide = cv2.resize(t1_image(), (854 + count, 646))
    return [
        np.ascontiguousarray(wide[40 + k // 4 : 520 + k // 4, k : k + 854]) for k in range(count)
    ]


def one_actor(
    settings: Settings,
    film: Path,
    out: Path,
    count: int,
    nobody: bool = False,
    masks: MaskSpec | None = None,
) -> dict[str, float]:
    """The swap stage's path over `film`: one of six people (Lisa) mapped to the astronaut;
    with `nobody`, a reference no one in the film matches (detection and identity only)."""
    from face_samples import person, t1_image

    from tasks.faces.embed import distance, embed_face

    t1 = t1_image()
    _spin(settings)
    offline = build_backend(None)
    # Today's path pasted the source as aligned; the default follows the target's turn.
    swapper = ClassicalSwapper(follow=0.0 if settings in (TODAY, TODAY_QUIET) else pose.FOLLOW)
    engine = FaceEngine(
        [Mapping(source=data.astronaut(), reference=data.astronaut() if nobody else person(t1, 5))],
        backend=Backend(offline.name, offline.detector, swapper),
        settings=settings,
        masks=masks,
    )
    # Today's stage encoded every frame; the default keeps unchanged frames' source packets.
    packets = None if settings in (TODAY, TODAY_QUIET) else film
    work = UnitSwap(engine, [0] * count, out, "24", source=packets)
    batches = pipeline.batches(read_frames(film), lambda i: 0, 8)
    cpu, wall = time.process_time(), time.perf_counter()
    pipeline.run(batches, work.infer, work.write, 2)
    work.close()  # the file finished (flushed, or spliced from the source's packets)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    source = embed_face(data.astronaut(), detect_faces(data.astronaut())[0])
    frames = list(read_frames(out))
    written = sorted(faces_log.parse({"frames": work.faces}).items())
    gaps = [
        distance(embed_face(frames[k], face), source)
        for k, faces in written[:: max(1, len(written) // 8)]
        for face in faces
    ]
    (shot,) = work.per_shot()
    return {
        "fps": count / wall,
        "cpu_fps": count / cpu,  # frames per CPU-second of this process (all its threads)
        "swapped": float(sum(work.swapped.values())),
        "dist": float(np.mean(gaps)) if gaps else float("nan"),
        "flicker": shot.flicker or float("nan"),
        **{k: v for k, v in engine.timings.seconds.items()},
    }


def speed(count: int, rounds: int) -> None:
    """Today's detection path against the default one, alternating, on the same film."""
    with tempfile.TemporaryDirectory() as tmp:
        film = Path(tmp) / "pan.mkv"
        with FrameWriter(film, 854, 480, "24") as writer:
            for frame in pan(count):
                writer.write(frame)
        for nobody in (False, True):
            _compare(film, Path(tmp), count, rounds, nobody)


def _compare(film: Path, tmp: Path, count: int, rounds: int, nobody: bool) -> None:
    who = "nobody matched" if nobody else "one actor mapped"
    print(f"\nswap stage, {who} among six faces, 854x480, {count} frames, FFV1 "
          f"(alternating runs; load {os.getloadavg()[0]:.2f})")  # fmt: skip
    print(f"{'path':6} {'fps':>6} {'cpu fps':>7} {'detect':>7} {'ident':>7} {'swap':>6} "
          f"{'swapped':>7} {'dist->src':>9} {'flicker':>7}")  # fmt: skip
    figures: dict[str, list[float]] = {name: [] for name in PATHS}
    cpu: dict[str, list[float]] = {name: [] for name in PATHS}
    for _ in range(rounds):
        for name, settings in PATHS.items():
            row = one_actor(settings, film, tmp / f"{name}.mkv", count, nobody, MASKS[name])
            figures[name].append(row["fps"])
            cpu[name].append(row["cpu_fps"])
            seconds = [row.get(k, 0.0) for k in ("detect", "identity", "swap")]
            print(f"{name:6} {row['fps']:6.1f} {row['cpu_fps']:7.1f} {seconds[0]:7.2f} "
                  f"{seconds[1]:7.2f} {seconds[2]:6.2f} {row['swapped']:7.0f} "
                  f"{row['dist']:9.3f} {row['flicker']:7.3f}")  # fmt: skip
    for what, values in (("frames per CPU-second", cpu), ("fps", figures)):
        median = {name: float(np.median(v)) for name, v in values.items()}
        print(f"median {what}: " + ", ".join(f"{k} {v:.1f}" for k, v in median.items())
              + f"; fast/today {median['fast'] / median['today']:.2f}x, "
              f"fast/quiet {median['fast'] / median['quiet']:.2f}x "
              f"(load {os.getloadavg()[0]:.2f})")  # fmt: skip


def real_gfpgan() -> None:
    """The released architecture's cost per face (512x512), random weights, this CPU."""
    import torch

    from tasks.faces import gfpgan_arch

    network = gfpgan_arch.build()
    params = sum(p.numel() for p in network.parameters())
    crop = torch.zeros(1, 3, 512, 512)
    with torch.inference_mode():
        network(crop, return_rgb=False, randomize_noise=False)  # warm-up
        one = timed(lambda: network(crop, return_rgb=False, randomize_noise=False))
        two = timed(
            lambda: network(crop.repeat(2, 1, 1, 1), return_rgb=False, randomize_noise=False)
        )
    print(f"\nGFPGANv1Clean (v1.4 settings, {params / 1e6:.1f} M parameters, "
          f"{torch.get_num_threads()} threads): {one:.2f} s per face, "
          f"{two / 2:.2f} s per face in a batch of 2")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--no-gfpgan", action="store_true", help="skip the real-size GFPGAN")
    parser.add_argument(
        "--speed-only", action="store_true", help="only today's path against the default one"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    speed(args.frames * 12, args.rounds)
    if args.speed_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = neural_store(Path(tmp) / "store")
        store = ModelStore(str(store_dir), cache=Path(tmp) / "cache")
        backends = {"offline": build_backend(None), "neural": build_backend(store)}
        restorer = load_restorer(str(store_dir))
        stage_table(backends, restorer, args.frames)
        batching(backends["neural"], args.frames)
        efficiency(backends, args.frames * 3)
    if not args.no_gfpgan:
        real_gfpgan()


if __name__ == "__main__":
    main()
