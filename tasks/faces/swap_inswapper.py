"""INSwapper-128 through insightface's `INSwapper`, batched across the faces of many frames.

`INSwapper.get` runs one face per call and pastes back over the whole frame. Here every face of
a batch of frames is aligned with the same `norm_crop2`, given the same source latent
(ArcFace embedding x `emap`, L2-normalised, as `INSwapper.get` computes it) and sent through
the model in one run when the graph's batch axis allows it; the crops are then pasted back over
their own region only, through the shared masks and colour code (`tasks.faces.paste`). A face
larger than the model's 128 pixels is aligned at k*128 and swapped as k*k interleaved 128
crops (`implode`/`explode`, FaceFusion's "pixel boost"), so it keeps k times the detail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from tasks.faces.align import Image, Matrix, quiet_estimate
from tasks.faces.arcface import Embedding
from tasks.faces.detect import Face
from tasks.faces.masks import DEFAULT_MASKS, FaceMemory, MaskSpec, paste_mask
from tasks.faces.paste import paste_crop
from tasks.faces.scrfd import load_insightface
from tasks.faces.timing import Timings

log = logging.getLogger(__name__)

Latent = npt.NDArray[np.float32]


SwapJob = tuple[int, Face, Latent]  # canvas index, target face, source latent
MAX_BOOST = 4  # crops of up to 4 x 128 = 512 pixels: 16 model runs per face
_TEMPLATE_EYES = 35.24  # eye distance in the 128-pixel template (insightface's arcface_dst)


class InSwapper:
    def __init__(self, path: Path) -> None:
        self.model = load_insightface(path, "INSwapper")
        self.size = int(self.model.input_size[0])
        batch_axis = self.model.session.get_inputs()[0].shape[0]
        self.batched = not isinstance(batch_axis, int) or batch_axis != 1
        log.info("INSwapper loaded from %s (batched: %s)", path, self.batched)

    def latent(self, embedding: Embedding) -> Latent:
        """The model's source input for an L2-normalised ArcFace embedding."""
        vector = np.dot(embedding.reshape(1, -1), self.model.emap)
        return np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)

    def boost(self, face: Face) -> int:
        """Pixel boost: how many model sides the face's crop gets (1 at the model's own scale,
        up to `MAX_BOOST` for a face far larger than 128 pixels)."""
        span = float(np.linalg.norm(face.kps[1] - face.kps[0]))
        template = _TEMPLATE_EYES * self.size / 128
        return int(np.clip(np.ceil(span / template - 0.25), 1, MAX_BOOST))

    def align(self, frame: Image, face: Face, size: int | None = None) -> tuple[Image, Matrix]:
        from insightface.utils import face_align

        with quiet_estimate():
            crop, matrix = face_align.norm_crop2(frame, face.kps, size or self.size)
        return np.asarray(crop, dtype=np.uint8), np.asarray(matrix, dtype=np.float64)

    def infer(self, crops: Sequence[Image], latents: Sequence[Latent]) -> list[Image]:
        """Swapped RGB crops: one model run for all of them when the graph has a batch axis."""
        if not crops:
            return []
        if not self.batched:
            return [self.infer_one(c, s) for c, s in zip(crops, latents, strict=True)]
        blob = np.stack(crops).astype(np.float32).transpose(0, 3, 1, 2) / self.model.input_std
        source = np.concatenate(latents).astype(np.float32)
        names = self.model.input_names
        pred = self.model.session.run(self.model.output_names, {names[0]: blob, names[1]: source})
        return [_to_image(p) for p in pred[0]]

    def infer_one(self, crop: Image, latent: Latent) -> Image:
        """One crop through the model exactly as `INSwapper.get` prepares it."""
        blob = cv2.dnn.blobFromImage(
            crop, 1.0 / self.model.input_std, (self.size, self.size), (0.0, 0.0, 0.0), swapRB=False
        )
        names = self.model.input_names
        pred = self.model.session.run(self.model.output_names, {names[0]: blob, names[1]: latent})
        return _to_image(pred[0][0])

    def apply(
        self,
        canvases: list[Image],
        jobs: Sequence[SwapJob],
        timings: Timings | None = None,
        masks: MaskSpec = DEFAULT_MASKS,
        memories: Sequence[FaceMemory | None] = (),
    ) -> list[bool]:
        """Swap every job's face on its canvas, in place; whether each was written."""
        timings = timings or Timings()
        kept = list(memories) or [None] * len(jobs)
        boosts = [self.boost(face) for _, face, _ in jobs]
        aligned = [
            self.align(canvases[i], face, self.size * k)
            for (i, face, _), k in zip(jobs, boosts, strict=True)
        ]
        tiles = [
            tile for (crop, _), k in zip(aligned, boosts, strict=True) for tile in implode(crop, k)
        ]
        latents = [
            latent for (*_, latent), k in zip(jobs, boosts, strict=True) for _ in range(k * k)
        ]
        with timings.step("swap"):
            results = iter(self.infer(tiles, latents))
        swapped = [explode([next(results) for _ in range(k * k)], k) for k in boosts]
        done = []
        with timings.step("paste"):
            for (i, *_), (crop, matrix), out, memory in zip(
                jobs, aligned, swapped, kept, strict=True
            ):
                mask = paste_mask(masks, crop, memory)
                box = paste_crop(canvases[i], out, matrix, mask, colour_from=crop)
                done.append(box is not None)
        return done


def implode(crop: Image, k: int) -> list[Image]:
    """A k*128 crop as k*k crops of 128, each every k-th pixel from its own offset: each is the
    whole face, so the 128-pixel model sees it whole at k*k phases (FaceFusion's pixel boost)."""
    if k == 1:
        return [crop]
    side = crop.shape[0] // k
    tiles = crop.reshape(side, k, side, k, 3).transpose(1, 3, 0, 2, 4).reshape(k * k, side, side, 3)
    return [np.ascontiguousarray(t) for t in tiles]


def explode(tiles: Sequence[Image], k: int) -> Image:
    """The inverse of `implode`: k*k swapped phases back into one crop of k*128."""
    if k == 1:
        return tiles[0]
    side = tiles[0].shape[0]
    stacked = np.stack(tiles).reshape(k, k, side, side, 3).transpose(2, 0, 3, 1, 4)
    return np.ascontiguousarray(stacked.reshape(side * k, side * k, 3))


def _to_image(pred: npt.NDArray[np.float32]) -> Image:
    """A model output (3xHxW RGB in [0, 1]) as an RGB uint8 crop."""
    return np.clip(np.rint(255 * pred.transpose(1, 2, 0)), 0, 255).astype(np.uint8)
