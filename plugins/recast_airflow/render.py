"""The Airflow-side steps of a render that need no media: validate, plan, report, publish.

They run in the Airflow worker and call the `tasks` library directly: small JSON in, small
JSON out. Everything that touches frames runs as a stage (a pod or a local process).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recast_airflow import commands
from recast_airflow.config import Settings
from recast_airflow.tiers import load_tiers
from tasks import reuse, scope, storage
from tasks.layout import RunLayout, delivery_prefix
from tasks.spec import RESTORE_MODES, RenderSpec, SpecError

DEFAULT_TIER = RenderSpec.model_fields["tier"].default


def validate(conf: dict[str, Any], run_id: str, settings: Settings) -> dict[str, Any]:
    """Refuse a bad spec before any pod is asked for, listing every problem found; write the
    spec the stages will read."""
    problems: list[str] = []
    try:
        spec: RenderSpec | None = RenderSpec.parse(conf)
    except SpecError as exc:
        spec, problems = None, list(exc.problems)
    problems += [p for p in conf_problems(conf, settings) if p not in problems]
    if spec is not None:
        problems += _policy_problems(spec, settings, _destination(spec, settings, run_id))
        # Inputs are looked up only once all is well: no probing of other buckets.
        problems += [] if problems else _missing_inputs(spec)
    layout = RunLayout.for_run(settings.work_uri, run_id)
    if spec is not None and not problems:  # a scoped re-render: its base and shots exist
        problems += scope.problems(spec, layout.prefix)
    if problems or spec is None:
        raise SpecError(f"refused render spec: {'; '.join(problems)}", problems)
    storage.write_json(layout.spec, spec.model_dump_json())
    return {
        "run": layout.prefix,
        "asset": spec.asset,
        "tier": spec.tier,
        "restores": spec.restores(),  # else no restore task runs (the swap's output is final)
        "destination": _destination(spec, settings, run_id),
        "probe_args": commands.probe(spec.asset, layout),
        "check_faces_args": commands.check_faces(layout),
        "shots_args": commands.detect_shots(spec.asset, layout, spec.shot_detector),
        "split_args": commands.split(spec.asset, layout),
        "assemble_args": commands.assemble(spec.asset, layout),
        "finalize_args": commands.finalize(spec.asset, layout),
    }


def conf_problems(conf: dict[str, Any], settings: Settings) -> list[str]:
    """This deployment's rules, checked on the raw settings so that they are listed beside the
    schema's problems (a job with a bad path still hears of its tier, restoration and consent):
    the tier is a GPU tier, restoration has a model store, every face has a consent."""
    problems = []
    tier = conf.get("tier", DEFAULT_TIER)
    if isinstance(tier, str):  # else the schema names it
        problems += _tier_problems(tier, settings)
    restore = conf.get("restore", "none")
    if restore in RESTORE_MODES and restore != "none" and not settings.models_uri:
        problems.append(
            f"restore: restore={restore} needs restoration weights from a model store: set "
            "RECAST_MODELS (this deployment has none), or render with restore=none"
        )
    faces = conf.get("faces")
    if isinstance(faces, list) and not conf.get("consent_reference"):
        missing = [
            str(i)
            for i, face in enumerate(faces, start=1)
            if not (isinstance(face, dict) and face.get("consent"))
        ]
        if missing:
            problems.append(
                f"no consent reference for face mapping {', '.join(missing)}: set "
                "consent_reference (or the mapping's consent) to the release that covers the face"
            )
    return problems


def _destination(spec: RenderSpec, settings: Settings, run_id: str) -> str:
    return delivery_prefix(settings.work_uri, spec.output_prefix, spec.asset, run_id)


def _tier_problems(tier: str, settings: Settings) -> list[str]:
    tiers = load_tiers(settings.tiers_file)
    if tier in tiers and tiers[tier].gpu_resource is not None:
        return []
    gpu_tiers = sorted(name for name, t in tiers.items() if t.gpu_resource)
    return [f"tier: {tier!r} is not a GPU tier; choose one of {gpu_tiers}"]


def _policy_problems(spec: RenderSpec, settings: Settings, destination: str) -> list[str]:
    problems = []
    # A render reads objects, never the Airflow worker's disk.
    problems += [
        f"{what} {uri!r}: a render reads s3:// URIs only"
        for what, uri in spec.inputs()
        if not storage.is_s3(uri)
    ]
    allowed = settings.allowlist()
    return problems + allowed.problems([*spec.inputs(), ("destination", destination)])


def _missing_inputs(spec: RenderSpec) -> list[str]:
    problems = []
    for what, uri in spec.inputs():
        try:
            storage.require(uri, what)
        except SpecError as exc:
            problems.append(str(exc))
    return problems


def report(
    *,
    run_id: str,
    spec_uri: str,
    stage_results: dict[str, dict[str, Any]],
    swaps: list[dict[str, Any]],
    restores: list[dict[str, Any]],
) -> dict[str, Any]:
    """The render's summary: what was found and replaced, and where the time went."""
    seconds = {name: round(r.get("seconds", 0.0), 3) for name, r in stage_results.items()}
    seconds["swap"] = round(sum(r["seconds"] for r in swaps), 3)
    seconds["restore"] = round(sum(r["seconds"] for r in restores), 3)
    per_shot = merge_shots(s for r in swaps for s in r.get("per_shot", []))
    backends = sorted({r["backend"] for r in swaps if r.get("backend")})
    spec = storage.read_json_if_any(spec_uri)
    return {
        "backends": backends,
        "run_id": run_id,
        "spec": spec,
        "frames": stage_results.get("assemble", {}).get("frames"),
        "shots": stage_results.get("detect_shots", {}).get("shots"),
        "units": len(swaps),
        "faces_found": sum(r["faces_found"] for r in swaps),
        "faces_swapped": sum(r["faces_swapped"] for r in swaps),
        "per_shot": per_shot,
        "reuse": reuse.summary(swaps),  # frames taken from earlier renders (tasks.reuse)
        "base_run": (spec or {}).get("base_run"),
        "seconds": seconds,
    }


def materialize(results: dict[str, Any]) -> dict[str, Any]:
    """The mapped stages' results as lists, each read with one slice request.

    Iterating Airflow's lazy XCom sequence asks for one index past the end and logs the 404 as
    an "XCom not found" error in every render; a slice asks for the count it already knows.
    """
    return {k: list(v[:]) if k in ("swaps", "restores") else v for k, v in results.items()}


def hand_over(run_prefix: str, summary: dict[str, Any], results: dict[str, Any], tier: str) -> str:
    """Write every stage's result where the finalize pod reads them (XCom stays in Airflow)."""
    layout = RunLayout(run_prefix)
    stages = {k: v for k, v in results.items() if k not in ("swaps", "restores")}
    return storage.write_json(
        layout.results,
        {
            "run_id": summary["run_id"],
            "stages": {k: v for k, v in stages.items() if isinstance(v, dict)},
            "swaps": list(results["swaps"]),
            "restores": list(results["restores"]),
            "tiers": {"swap": tier, "restore": tier},
            "backends": summary.get("backends", []),
        },
    )


# Per-shot counts that add up across the units a shot spans.
_SUMMED = (
    "frames",
    "faces_found",
    "faces_swapped",
    "frames_reused",
    "needs_compositor",
    "compositor_faces",
)


def merge_shots(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per shot from per-unit rows: a shot cut across units is summed, not repeated."""
    rows: dict[int, dict[str, Any]] = {}
    for entry in entries:
        row = rows.setdefault(
            int(entry["shot"]),
            {"shot": int(entry["shot"]), "flicker": None, "reused_from": None, "_most": 0}
            | dict.fromkeys(_SUMMED, 0),
        )
        for key in _SUMMED:
            row[key] += int(entry.get(key) or 0)
        # Where most of the shot's reused frames came from: its largest reusing part's run.
        if entry.get("reused_from") and int(entry.get("frames_reused") or 0) > row["_most"]:
            row["reused_from"], row["_most"] = entry["reused_from"], int(entry["frames_reused"])
        flicker = entry.get("flicker")
        if flicker is not None:  # the worst part of the shot stands for it
            worst = row["flicker"]
            row["flicker"] = float(flicker) if worst is None else max(worst, float(flicker))
    return [{k: v for k, v in rows[s].items() if k != "_most"} for s in sorted(rows)]
