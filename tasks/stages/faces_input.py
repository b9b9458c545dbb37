"""Face images of a spec: fetched once, checked (exactly one face each) before any unit runs."""

from __future__ import annotations

from pathlib import Path

from tasks import storage
from tasks.faces import FaceEngine, Mapping, load_image
from tasks.faces.backend import load_backend
from tasks.faces.masks import MaskSpec
from tasks.spec import RenderSpec


def fetch_mappings(spec: RenderSpec, tmp: Path) -> list[Mapping]:
    mappings = []
    for i, face in enumerate(spec.faces, start=1):
        storage.require(face.source, f"face source {i}")
        source = load_image(storage.download(face.source, tmp / f"source-{i}"))
        reference = None
        if face.reference:
            storage.require(face.reference, f"face reference {i}")
            reference = load_image(storage.download(face.reference, tmp / f"reference-{i}"))
        mappings.append(Mapping(source=source, reference=reference, select=face.select))
    return mappings


def build_engine(spec: RenderSpec, tmp: Path) -> FaceEngine:
    """The engine for this render, on the models the store (or the offline default) provides."""
    return FaceEngine(
        fetch_mappings(spec, tmp),
        match_threshold=spec.match_threshold,
        backend=load_backend(spec.swapper),
        masks=MaskSpec.of(spec.face_masks, spec.face_mask_regions),
    )
