"""`python -m tasks <stage> ...`: the command every pod runs, and the local backend too.

Each stage prints logs on stderr and writes one small JSON result to the path named by
`--result` or $RECAST_RESULT_PATH (a pod's /airflow/xcom/return.json). On failure it exits
non-zero with a one-line reason as the last line of stderr.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tasks import jsonlog, metrics
from tasks.allowlist import check_arguments
from tasks.progress import emit
from tasks.spec import SHOT_DETECTORS, SpecError

EXIT_REFUSED = 2  # bad input: retrying will not help
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tasks", description=__doc__)
    p.add_argument("--result", help="write the stage's JSON result here")
    sub = p.add_subparsers(dest="stage", required=True)

    s = sub.add_parser("detect-shots", help="shot list of a video as JSON")
    s.add_argument("video", help="local path or s3:// URI")
    s.add_argument("--out", required=True, help="SHOTS.json: local path or s3:// URI")
    s.add_argument(
        "--census", help="also count faces per shot (same decode) into CENSUS.json, for planning"
    )
    s.add_argument(
        "--detector", default="classical", choices=SHOT_DETECTORS,
        help="classical, learned (TransNetV2) or fused (the spec's shot_detector)",
    )  # fmt: skip

    s = sub.add_parser("probe", help="technical facts of an asset; refuses unusable files")
    s.add_argument("asset")
    s.add_argument("--out", required=True)

    s = sub.add_parser("check-faces", help="refuse face images without exactly one face")
    s.add_argument("--spec", required=True, help="URI of the render's spec.json")

    s = sub.add_parser("plan", help="pack shots into work units")
    s.add_argument("--run", required=True, help="the run's prefix (spec.json, shots.json)")

    s = sub.add_parser("split", help="one lossless mezzanine per unit")
    s.add_argument("--asset", required=True)
    s.add_argument("--run", required=True)

    for stage in ("swap", "restore"):
        s = sub.add_parser(stage, help=f"{stage} the faces of one unit")
        s.add_argument("--run", required=True)
        s.add_argument("--unit", required=True)

    s = sub.add_parser("assemble", help="units + original audio -> the delivery film")
    s.add_argument("--asset", required=True)
    s.add_argument("--run", required=True)

    s = sub.add_parser("finalize", help="QC report, provenance, signed delivery film")
    s.add_argument("--asset", required=True)
    s.add_argument("--run", required=True)
    return p


def _dispatch(args: argparse.Namespace) -> dict[str, Any]:
    def stage(name: str) -> Any:
        # Only the stage that runs is imported: detect-shots starts ~0.8 s sooner.
        return importlib.import_module(f"tasks.stages.{name}")

    handlers: dict[str, Callable[[], dict[str, Any]]] = {
        "detect-shots": lambda: stage("shots").run(
            args.video, args.out, args.census, args.detector
        ),
        "probe": lambda: stage("probe").run(args.asset, args.out),
        "check-faces": lambda: stage("check_faces").run(args.spec),
        "plan": lambda: stage("plan").run(args.run),
        "split": lambda: stage("split").run(args.asset, args.run),
        "swap": lambda: stage("swap").run(args.run, args.unit),
        "restore": lambda: stage("restore").run(args.run, args.unit),
        "assemble": lambda: stage("assemble").run(args.asset, args.run),
        "finalize": lambda: stage("finalize").run(args.asset, args.run),
    }
    return handlers[args.stage]()


def one_line(exc: BaseException) -> str:
    """An operator reads the last line of a pod's log: keep the whole reason on it."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("For further information visit")]
    return " ".join(lines) or type(exc).__name__


def _disk_full(exc: BaseException) -> OSError | None:
    """The ENOSPC behind `exc`, if any (FFmpeg's and boto3's errors wrap it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return current
        current = current.__cause__ or current.__context__
    return None


def no_space(stage: str, exc: OSError) -> str:
    """Name the full disk: the pod's scratch volume, unless the error names another file."""
    scratch = os.environ.get("RECAST_SCRATCH") or tempfile.gettempdir()
    where = f"scratch {scratch}"
    if exc.filename and not str(exc.filename).startswith(scratch):
        where = f"disk of {exc.filename}"
    try:
        room = f"{shutil.disk_usage(scratch).total / 2**20:.0f} MiB in all"
    except OSError:
        room = "size unknown"
    return (
        f"{stage}: no space left in {where} ({room}); give the pod more ephemeral storage "
        "(RECAST_SCRATCH) and retry"
    )


OUTCOMES = {0: "ok", EXIT_FAILED: "failed", EXIT_REFUSED: "refused"}


def run_prefix(args: argparse.Namespace) -> str | None:
    """The run's prefix: `--run`, or the folder of `--out` / `--spec` (probe, shots, faces)."""
    if getattr(args, "run", None):
        return str(args.run)
    named = getattr(args, "out", None) or getattr(args, "spec", None)
    return str(named).rsplit("/", 1)[0] if named and "/" in str(named) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stage; JSON log lines throughout and, at the end, its metrics (tasks.metrics)."""
    args = _parser().parse_args(argv)
    ctx = metrics.StageContext.from_env(args.stage, run_prefix(args), getattr(args, "unit", None))
    jsonlog.configure(ctx.fields())
    # A stopped stage (a pod evicted, `recast render` stopped) unwinds: its scratch is removed.
    saved = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    unit = getattr(args, "unit", None)
    emit("stage", stage=args.stage, unit=unit, state="start")
    started = time.perf_counter()
    done: dict[str, Any] = {}
    try:
        code, reason = _stage(args, sys.argv[1:] if argv is None else list(argv), done)
    finally:
        signal.signal(signal.SIGTERM, saved)
    metrics.push(ctx, OUTCOMES.get(code, "failed"), time.perf_counter() - started, done or None)
    emit("stage", stage=args.stage, unit=unit, state="done" if code == 0 else "failed")
    if reason:  # last, after any metrics warning: the backends read stderr's last line
        print(f"recast: {reason}", file=sys.stderr)
    return code


def _stage(
    args: argparse.Namespace, argv: list[str], done: dict[str, Any]
) -> tuple[int, str | None]:
    """The exit status, and the one-line reason of a refusal or failure."""
    try:
        check_arguments(argv)
        result = _dispatch(args)
        done.update(result)
    except SpecError as exc:
        return EXIT_REFUSED, f"refused: {one_line(exc)}"
    except Exception as exc:
        logging.getLogger("tasks").exception("stage %s failed", args.stage)
        full = _disk_full(exc)
        if full is not None:  # the unit's scratch is lost: nothing was made final
            return EXIT_FAILED, no_space(args.stage, full)
        return EXIT_FAILED, f"{args.stage} failed: {type(exc).__name__}: {one_line(exc)}"
    target = args.result or os.environ.get("RECAST_RESULT_PATH")
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result))
    return 0, None
