"""INSwapper-128 through insightface's `INSwapper`, batched across the faces of many frames.

`INSwapper.get` runs one face per call and pastes back over the whole frame. Here every face of
a batch of frames is aligned with the same `norm_crop2`, given the same source latent
(ArcFace embedding x `emap`, L2-normalised, as `INSwapper.get` computes it) and sent through
the model in one run when the graph's batch axis allows it; the crops are then pasted back over
their own region only, with a soft mask and colour correction.
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
from tasks.faces.masks import DEFAULT_MASKS, MaskSpec, paste_mask
from tasks.faces.paste import paste_crop
from tasks.faces.scrfd import load_insightface
from tasks.faces.timing import Timings

log = logging.getLogger(__name__)

Latent = npt.NDArray[np.float32]


SwapJob = tuple[int, Face, Latent]  # canvas index, target face, source latent


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

    def align(self, frame: Image, face: Face) -> tuple[Image, Matrix]:
        from insightface.utils import face_align

        with quiet_estimate():
            crop, matrix = face_align.norm_crop2(frame, face.kps, self.size)
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
    ) -> list[bool]:
        """Swap every job's face on its canvas, in place; whether each was written."""
        timings = timings or Timings()
        aligned = [self.align(canvases[i], face) for i, face, _ in jobs]
        with timings.step("swap"):
            swapped = self.infer([crop for crop, _ in aligned], [latent for *_, latent in jobs])
        done = []
        with timings.step("paste"):
            for (i, *_), (crop, matrix), out in zip(jobs, aligned, swapped, strict=True):
                mask = paste_mask(masks, crop)
                box = paste_crop(canvases[i], out, matrix, mask, colour_from=crop)
                done.append(box is not None)
        return done


def _to_image(pred: npt.NDArray[np.float32]) -> Image:
    """A model output (3xHxW RGB in [0, 1]) as an RGB uint8 crop."""
    return np.clip(np.rint(255 * pred.transpose(1, 2, 0)), 0, 255).astype(np.uint8)
