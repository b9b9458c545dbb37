"""Which models do the work: the model store's (neural) or the ones shipped in packages.

With `RECAST_MODELS` set, detection is SCRFD when the store has it and the swap is INSwapper
(with ArcFace for the source latent) when it has those; otherwise CenterFace detects and the
classical swapper swaps. Identity matching against reference images always uses dlib's ResNet
(shipped, CC0), so `match_threshold` means the same thing on every path. Backends are built
once per process and shared by every unit a pod runs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tasks.faces import pose
from tasks.faces.align import Image
from tasks.faces.detect import Face
from tasks.faces.masks import DEFAULT_MASKS, FaceMemory, MaskSpec
from tasks.faces.restore_base import FaceRestorer
from tasks.faces.scrfd import CenterFaceDetector, ScrfdDetector
from tasks.faces.settings import Settings
from tasks.faces.swap_classical import paste_face, prepare_source
from tasks.faces.timing import Timings
from tasks.models import ModelStore, ModelStoreError, open_store
from tasks.spec import SpecError, SwapperChoice

log = logging.getLogger(__name__)


class Detector(Protocol):
    name: str

    def detect_batch(self, frames: Sequence[Image]) -> list[list[Face]]: ...


class Swapper(Protocol):
    name: str

    def prepare(self, image: Image, face: Face) -> Any:
        """What the swapper keeps of a source face (done once per mapping)."""

    def apply(
        self,
        canvases: list[Image],
        jobs: Sequence[tuple[int, Face, Any]],
        timings: Timings,
        masks: MaskSpec = ...,
        memories: Sequence[FaceMemory | None] = (),
    ) -> list[bool]:
        """Swap each (canvas index, target face, prepared source) in place, pasted through
        `masks` (the occlusion mask compares each face with its track's `memories`, one per
        job, in frame order); which were written."""


class ClassicalSwapper:
    name = "classical"

    def __init__(self, follow: float = pose.FOLLOW) -> None:
        self.follow = follow  # share of the target's turn taken (tasks.faces.pose; 0: none)

    def prepare(self, image: Image, face: Face) -> Any:
        return prepare_source(image, face)

    def apply(
        self,
        canvases: list[Image],
        jobs: Sequence[tuple[int, Face, Any]],
        timings: Timings,
        masks: MaskSpec = DEFAULT_MASKS,
        memories: Sequence[FaceMemory | None] = (),
    ) -> list[bool]:
        kept = list(memories) or [None] * len(jobs)
        with timings.step("swap"):
            return [
                paste_face(canvases[i], face, source, masks, memory, self.follow) is not None
                for (i, face, source), memory in zip(jobs, kept, strict=True)
            ]


class NeuralSwapper:
    """INSwapper-128 fed with ArcFace latents."""

    name = "inswapper"

    def __init__(self, store: ModelStore) -> None:
        from tasks.faces.arcface import ArcFace
        from tasks.faces.swap_inswapper import InSwapper

        arcface = store.require("arcface", "the inswapper swap (its source latent)")
        self.arcface = ArcFace(store.path(arcface))
        self.inswapper = InSwapper(store.path(store.require("inswapper", "swapper")))

    def prepare(self, image: Image, face: Face) -> Any:
        return self.inswapper.latent(self.arcface.embed(image, face))

    def apply(
        self,
        canvases: list[Image],
        jobs: Sequence[tuple[int, Face, Any]],
        timings: Timings,
        masks: MaskSpec = DEFAULT_MASKS,
        memories: Sequence[FaceMemory | None] = (),
    ) -> list[bool]:
        return self.inswapper.apply(canvases, jobs, timings, masks, memories)


@dataclass
class Backend:
    name: str  # "offline" or "neural", for logs and results
    detector: Detector
    swapper: Swapper


def build_backend(store: ModelStore | None, swapper: SwapperChoice = "auto") -> Backend:
    """A fresh backend (new model sessions): see `load_backend` for the shared one."""
    if store is None:
        if swapper == "inswapper":
            raise SpecError("swapper=inswapper needs a model store (RECAST_MODELS); none is set")
        return Backend("offline", CenterFaceDetector(), ClassicalSwapper())
    scrfd = store.entry("scrfd")
    detector: Detector = ScrfdDetector(store.path(scrfd)) if scrfd else CenterFaceDetector()
    if swapper == "classical" or (swapper == "auto" and store.entry("inswapper") is None):
        chosen: Swapper = ClassicalSwapper()
    else:
        chosen = NeuralSwapper(store)
    name = "neural" if isinstance(chosen, NeuralSwapper) or scrfd else "offline"
    log.info("face backend: %s (detector %s, swapper %s)", name, detector.name, chosen.name)
    return Backend(name, detector, chosen)


@functools.cache
def _shared(uri: str | None, swapper: SwapperChoice) -> Backend:
    return build_backend(open_store(uri) if uri else None, swapper)


def load_backend(swapper: SwapperChoice = "auto", store_uri: str | None = None) -> Backend:
    """The process's backend for the configured store (`RECAST_MODELS`), loaded once."""
    from tasks.models import store_uri as configured

    return _shared(store_uri or configured(), swapper)


@functools.cache
def _restorer(uri: str) -> FaceRestorer:
    """GFPGAN on torch when the store has its weights, else its ONNX export."""
    store = open_store(uri)
    if store is None:  # pragma: no cover - open_store only returns None without a uri
        raise ModelStoreError("no model store")
    settings = Settings.from_env()
    onnx = store.entry("gfpgan_onnx")
    if store.entry("gfpgan") is None and onnx is not None:
        from tasks.faces.restore_onnx import OnnxRestorer

        return OnnxRestorer(store.path(onnx), settings)
    from tasks.faces.restore_gfpgan import GfpganRestorer

    entry = store.require("gfpgan", "restore=gfpgan")
    return GfpganRestorer(store.path(entry), dict(entry.params), settings)


def load_restorer(store_uri: str | None = None) -> FaceRestorer:
    """The GFPGAN restorer of the configured store, loaded once per process."""
    from tasks.models import store_uri as configured

    uri = store_uri or configured()
    if not uri:
        raise SpecError(
            "restore=gfpgan needs restoration weights from a model store (RECAST_MODELS)"
        )
    return _restorer(uri)
