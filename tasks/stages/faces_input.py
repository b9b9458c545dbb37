"""Face images of a spec: fetched once, checked (exactly one face each) before any unit runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from tasks import storage
from tasks.faces import FaceEngine, Mapping, load_image
from tasks.faces.backend import load_backend
from tasks.faces.masks import MaskSpec
from tasks.spec import RenderSpec, SpecError


def _image(uri: str, what: str, tmp: Path) -> npt.NDArray[np.uint8]:
    """A face image, refused under the URI the user gave, not the scratch copy's path. A copy
    already in this scratch folder (the unit key's, tasks.unit_keys.faces) is not fetched again."""
    local = tmp / what.replace(" ", "-")
    if not local.is_file():
        storage.require(uri, what)
        storage.download(uri, local)
    try:
        return load_image(local)
    except SpecError as exc:
        raise SpecError(f"{what} {uri}: not an image (PNG, JPEG, WebP, ...)") from exc


def fetch_mappings(spec: RenderSpec, tmp: Path) -> list[Mapping]:
    mappings = []
    for i, face in enumerate(spec.faces, start=1):
        source = _image(face.source, f"face source {i}", tmp)
        reference = _image(face.reference, f"face reference {i}", tmp) if face.reference else None
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
