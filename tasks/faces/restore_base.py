"""What every face restorer shares: FFHQ alignment, batching, strength blend, soft paste-back.

Faces are aligned to GFPGAN's FFHQ five-point template (facexlib's, as `GFPGANer` does), run
through the model `batch` at a time, blended with the original crop by `strength`, and pasted
back through a soft mask. A subclass only says how a batch of crops goes through its model.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tasks.faces.align import Image, Matrix
from tasks.faces.detect import Face
from tasks.faces.paste import paste_crop, restore_mask

# facexlib's FaceRestoreHelper template for 512x512 crops (left eye, right eye, nose, mouth).
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.19366],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float32,
)

Batch = np.ndarray  # N x 3 x size x size, float32 RGB in [-1, 1]


class FaceRestorer:
    size: int = 512
    batch: int = 8

    def forward(self, batch: Batch) -> Batch:
        """The model on a batch of normalised crops (same layout out as in)."""
        raise NotImplementedError

    def align(self, frame: Image, face: Face) -> tuple[Image, Matrix]:
        template = FFHQ_TEMPLATE_512 * (self.size / 512)
        matrix, _ = cv2.estimateAffinePartial2D(face.kps, template, method=cv2.LMEDS)
        crop = cv2.warpAffine(
            frame, matrix, (self.size, self.size), borderMode=cv2.BORDER_REPLICATE
        )
        return np.asarray(crop, dtype=np.uint8), np.asarray(matrix, dtype=np.float64)

    def infer(self, crops: Sequence[Image]) -> list[Image]:
        """Restored RGB crops, `self.batch` faces per model call."""
        out: list[Image] = []
        for start in range(0, len(crops), self.batch):
            chunk = np.stack(crops[start : start + self.batch]).astype(np.float32)
            # Contiguous: GFPGAN flattens with .view(), ONNX runtimes want dense input.
            normed = np.ascontiguousarray(chunk.transpose(0, 3, 1, 2) / 127.5 - 1.0)
            restored = self.forward(normed.astype(np.float32))
            pixels = (np.clip(restored, -1, 1) + 1) * 127.5
            out += [np.rint(p.transpose(1, 2, 0)).astype(np.uint8) for p in pixels]
        return out

    def apply(
        self, canvases: list[Image], jobs: Sequence[tuple[int, Face]], strength: float
    ) -> int:
        """Restore each job's face (canvas index, face) in place, blended by `strength`.

        All faces of all canvases share the model calls; returns how many were written.
        """
        if not jobs or strength <= 0:
            return 0
        aligned = [self.align(canvases[i], face) for i, face in jobs]
        restored = self.infer([crop for crop, _ in aligned])
        mask = restore_mask(self.size)
        written = 0
        for (i, _), (crop, matrix), out in zip(jobs, aligned, restored, strict=True):
            mixed = np.asarray(cv2.addWeighted(out, strength, crop, 1.0 - strength, 0.0), np.uint8)
            written += paste_crop(canvases[i], mixed, matrix, mask) is not None
        return written
