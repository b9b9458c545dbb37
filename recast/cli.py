"""`recast`: render a film on a laptop through the real Airflow DAG, or run the demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recast import options


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recast", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="show Airflow's task logs")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "render",
        help="render a local film through the recast_render DAG",
        description="Render a local film through the real recast_render DAG (local backend, "
        "embedded S3). Settings come from --spec JOB.yaml (the drop folder's job schema), "
        "then from the flags, which override the file.",
    )
    r.add_argument("input", type=Path, nargs="?", help="the film (or `asset:` in --spec)")
    r.add_argument(
        "--spec",
        type=Path,
        metavar="JOB.yaml",
        help="a job file (YAML or JSON, the drop folder's schema); its relative paths resolve "
        "next to it",
    )
    r.add_argument(
        "--face",
        action="append",
        metavar="SOURCE_IMAGE[:REFERENCE_IMAGE]",
        help="face to put in, and optionally who it replaces (default: every face); repeatable; "
        "replaces the job file's faces",
    )
    r.add_argument("--out", type=Path, required=True, help="output film (.mp4)")
    r.add_argument("-q", "--quiet", action="store_true", help="no live progress, only the summary")
    r.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="every shot in the summary, and Airflow's task logs on the terminal",
    )
    options.add_spec_flags(r)
    # Issue 13 (versions): shorthands that build `shot_overrides` (the spec's own flag takes
    # JSON); --base, --shots and --no-reuse are the spec's generated flags.
    r.add_argument("--skip-shots", metavar="3,4", help="shots passed through untouched")
    r.add_argument(
        "--shot-face",
        action="append",
        default=[],
        metavar="SHOT=SOURCE_IMAGE[:REFERENCE_IMAGE]",
        help="a face mapping for one re-rendered shot only; repeatable",
    )

    c = sub.add_parser("cache", help="size of the work area kept between renders; prune it")
    c.add_argument("--prune", action="store_true", help="remove what --older-than/--max-size say")
    c.add_argument("--older-than", type=float, metavar="DAYS", help="remove entries older than")
    c.add_argument("--max-size", type=float, metavar="GB", help="then the oldest, down to this")

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


def _spec(args: argparse.Namespace) -> Any:
    """The render spec: the job file's settings (its paths resolved next to it, by the drop
    folder's code), then the flags'; every problem found listed at once."""
    from recast.local_render import FaceArg, local_inputs, local_problems
    from recast_airflow.config import Settings
    from recast_airflow.jobs import parse_document, resolve_paths, spec_problems
    from recast_airflow.render import conf_problems
    from tasks.spec import SpecError

    conf: dict[str, Any] = {}
    raw: Any = {}
    refused: list[str] = []
    if args.spec:
        if not args.spec.is_file():
            raise SpecError(f"job file not found: {args.spec}")
        raw = parse_document(args.spec.read_bytes(), str(args.spec))
        if isinstance(raw, dict):  # what a flag replaces is not looked at
            raw = {k: v for k, v in raw.items() if not (k == "asset" and args.input)}
            raw = {k: v for k, v in raw.items() if not (k == "faces" and args.face)}
        conf, refused = resolve_paths(raw, str(args.spec.parent))
    # The paths resolve_paths refused (left as they were): named once, not again below.
    named = {p for _, p in local_inputs(conf) if "://" not in p} & {p for _, p in local_inputs(raw)}
    if args.input:
        conf["asset"] = str(args.input)
    if args.face:
        conf["faces"] = [FaceArg.parse(text).mapping() for text in args.face]
    conf |= options.given(args)
    conf |= _versions_conf(args, conf.get("shot_overrides"))
    if "asset" not in conf:
        refused.append("asset missing: give the film as INPUT, or asset: in --spec")
    if "faces" not in conf:
        refused.append("faces missing: give --face SOURCE[:REFERENCE], or faces: in --spec")
    settings = Settings.from_env()
    spec, problems = spec_problems(conf, refused, lambda c: conf_problems(c, settings))
    problems += local_problems(conf, skip=named)
    if problems or spec is None:
        raise SpecError("; ".join(problems), problems)
    return spec


def _render(args: argparse.Namespace) -> dict[str, Path]:
    from recast.local_render import render_spec
    from recast.progress import live
    from recast.summary import summary_lines

    spec = _spec(args)
    started = time.perf_counter()
    log_file = None if args.verbose else args.out.with_name(f"{args.out.stem}_airflow.log")
    progress = None if args.quiet or args.verbose else live
    report, files = render_spec(spec, args.out, log_file=log_file, progress=progress)
    qc = json.loads(files["qc"].read_text()) if "qc" in files else None
    wall = time.perf_counter() - started
    print("\n".join(summary_lines(report, files, wall, qc=qc, verbose=args.verbose)))
    if report.get("reuse"):
        from tasks.reuse import headline

        print(headline(report["reuse"]))
    return files


def _versions_conf(args: argparse.Namespace, given: Any = None) -> dict[str, object]:
    """--skip-shots and --shot-face, added to the shot_overrides given (file or JSON flag)."""
    overrides: dict[int, dict[str, Any]] = {}
    for o in given if isinstance(given, list) else []:
        if isinstance(o, dict) and isinstance(o.get("shot"), int):
            overrides[o["shot"]] = dict(o)
    for s in (getattr(args, "skip_shots", None) or "").split(","):
        if s.strip():
            if not s.strip().isdigit():
                raise ValueError(f"--skip-shots {args.skip_shots!r}: expected shot indices 3,4")
            overrides.setdefault(int(s), {"shot": int(s)})["skip"] = True
    faces: dict[int, list[dict[str, str]]] = {}
    for text in getattr(args, "shot_face", None) or []:
        shot, sep, mapping = text.partition("=")
        if not sep or not shot.strip().isdigit():
            raise ValueError(f"--shot-face {text!r}: expected SHOT=SOURCE_IMAGE[:REFERENCE_IMAGE]")
        source, _, reference = mapping.partition(":")
        face = {"source": source, **({"reference": reference} if reference else {})}
        faces.setdefault(int(shot), []).append(face)
    for shot, mappings in faces.items():
        overrides.setdefault(shot, {"shot": shot})["faces"] = mappings
    return {"shot_overrides": list(overrides.values())} if overrides else {}


def _cache(args: argparse.Namespace) -> None:
    from recast import airflow_env, workarea

    home = airflow_env.default_home().parent
    if args.prune:
        if args.older_than is None and args.max_size is None:
            raise ValueError("recast cache --prune needs --older-than DAYS or --max-size GB")
        max_bytes = None if args.max_size is None else int(args.max_size * 2**30)
        removed = workarea.prune(home, older_than_days=args.older_than, max_bytes=max_bytes)
        freed = sum(e.size for e in removed) / 2**20
        print(f"removed {len(removed)} entries ({freed:.1f} MiB)")
    print("\n".join(workarea.report_lines(home)))


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


STARTS_NOTHING = ("pods", "cache")  # run in this process: no server, no Airflow to stop


def main(argv: Sequence[str] | None = None) -> int:
    from recast import stops

    args = _parser().parse_args(argv)
    if args.command not in STARTS_NOTHING and stops.SUPERVISED not in os.environ:
        # The work runs in a child that Airflow's signal handlers cannot keep from stopping.
        given = list(sys.argv[1:] if argv is None else argv)
        return stops.supervise([sys.executable, "-m", "recast.cli", *given])
    args.verbose = getattr(args, "verbose", False)
    _quiet_airflow(args.verbose)
    try:
        if args.command in STARTS_NOTHING:
            _pods(args) if args.command == "pods" else _cache(args)
            return 0
        with stops.stoppable(at_once=args.command != "up"):
            if args.command == "render":
                _render(args)
            elif args.command == "up":
                return _up(args)
            else:
                _demo(args)
    except stops.Stopped as stop:  # the supervisor says so
        return 128 + stop.signum
    except KeyboardInterrupt:
        print("recast: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for people; the traceback is in the logs with -v
        logging.getLogger("recast").debug("failed", exc_info=True)
        print(f"recast: {_reason(exc)}", file=sys.stderr)
        return 1
    return 0


def _reason(exc: Exception) -> str:
    from tasks.spec import SpecError

    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"refused: {reason}" if isinstance(exc, SpecError) else reason


if __name__ == "__main__":
    raise SystemExit(main())
