"""`recast`: render a film on a laptop through the real Airflow DAG, or run the demo."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESTORE_CHOICES = ("none", "gfpgan")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recast", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="show Airflow's task logs")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="render a local film through the recast_render DAG")
    r.add_argument("input", type=Path, help="the film")
    r.add_argument(
        "--face",
        action="append",
        required=True,
        metavar="SOURCE_IMAGE[:REFERENCE_IMAGE]",
        help="face to put in, and optionally who it replaces (default: every face); repeatable",
    )
    r.add_argument("--out", type=Path, required=True, help="output film (.mp4)")
    r.add_argument("--restore", choices=RESTORE_CHOICES, default="none")
    r.add_argument("--max-units", type=int, default=None, help="cap on work units (pods)")
    r.add_argument(
        "--consent",
        metavar="REFERENCE",
        help="ID of the release covering the faces; a render without one is refused",
    )

    d = sub.add_parser("demo", help="build the demo film from public-domain faces and render it")
    d.add_argument("--out", type=Path, default=Path("out"), help="folder for the results")

    k = sub.add_parser("pods", help="write the pod each tier submits (Kubernetes API JSON)")
    k.add_argument(
        "--tier", default="all", help="a tier of the tier file, 'finalize' (its pod), or 'all'"
    )
    k.add_argument("--out", type=Path, required=True, help="folder for <tier>.json")

    u = sub.add_parser("up", help="the Airflow UI on 127.0.0.1, with S3 and the demo inputs")
    u.add_argument("--port", type=int, default=8080)
    u.add_argument(
        "--monitoring",
        action="store_true",
        help="also Prometheus and a Pushgateway on 127.0.0.1 (the stages push their metrics)",
    )
    return p


def _quiet_airflow(verbose: bool) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in ("airflow", "airflow.task", "sqlalchemy", "alembic"):
        logging.getLogger(name).setLevel(level)


def summary_lines(report: dict[str, Any], files: dict[str, Path], wall: float) -> list[str]:
    seconds = report.get("seconds", {})
    lines = [
        f"Recast render {report.get('run_id', '?')}: done in {wall:.1f}s",
        f"  frames {report.get('frames')}  shots {report.get('shots')}  units {report.get('units')}"
        f"  faces found {report.get('faces_found')}  faces swapped {report.get('faces_swapped')}",
        "  seconds per stage: "
        + "  ".join(f"{name} {value:.1f}" for name, value in seconds.items()),
    ]
    for shot in report.get("per_shot", []):
        lines.append(
            f"    shot {shot['shot']:>3}: {shot['frames']:>4} frames,"
            f" {shot['faces_found']:>4} faces found, {shot['faces_swapped']:>4} swapped"
        )
    lines.append("  files:")
    lines += [f"    {name:<14} {path}" for name, path in files.items()]
    lines.append(f"  published      {report.get('film')}")
    return lines


def _render(args: argparse.Namespace) -> dict[str, Path]:
    from recast.local_render import FaceArg, render

    faces = [FaceArg.parse(text) for text in args.face]
    extra: dict[str, object] = {"max_units": args.max_units} if args.max_units else {}
    if args.consent:
        extra["consent_reference"] = args.consent
    started = time.perf_counter()
    log_file = None if args.verbose else args.out.with_name(f"{args.out.stem}_airflow.log")
    report, files = render(
        args.input, faces, args.out, restore=args.restore, extra_conf=extra, log_file=log_file
    )
    print("\n".join(summary_lines(report, files, time.perf_counter() - started)))
    return files


def _demo(args: argparse.Namespace) -> dict[str, Path]:
    from recast.demo import run_demo

    return run_demo(args.out, verbose=args.verbose)


def _pods(args: argparse.Namespace) -> None:
    import contextlib
    import dataclasses
    import json

    from recast_airflow.config import Settings
    from recast_airflow.pods import FINALIZE, sample_pods
    from recast_airflow.tiers import load_tiers

    settings = dataclasses.replace(Settings.from_env(), backend="kubernetes")
    known = [*sorted(load_tiers(settings.tiers_file)), FINALIZE]
    if args.tier != "all" and args.tier not in known:
        raise ValueError(f"unknown tier {args.tier!r}; {settings.tiers_file} has {known[:-1]}")
    args.out.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(sys.stderr):  # the operator logs as it builds; keep stdout
        pods = sample_pods(settings, args.tier)
    for name, pod in pods.items():
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(pod, indent=2, sort_keys=True) + "\n")
        print(path)


def _up(args: argparse.Namespace) -> int:
    from recast import airflow_env
    from recast.up import up

    return up(airflow_env.default_home().with_name("up"), args.port, monitoring=args.monitoring)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _quiet_airflow(args.verbose)
    try:
        if args.command == "render":
            _render(args)
        elif args.command == "pods":
            _pods(args)
        elif args.command == "up":
            return _up(args)
        else:
            _demo(args)
    except KeyboardInterrupt:
        print("recast: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for people; the traceback is in the logs with -v
        logging.getLogger("recast").debug("failed", exc_info=True)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"recast: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
