"""Paste a face crop (in template geometry) back onto a frame: colour-corrected, soft-masked.

Only the frame region under the warped crop is computed and written.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import numpy.typing as npt

from tasks.faces.align import Box, Image, Matrix, crop_box, warp_back
from tasks.faces.swap_classical import _composite, blend_into, face_mask

FloatImage = npt.NDArray[np.float32]


def paste_crop(
    canvas: Image,
    crop: Image,
    matrix: Matrix,
    mask: FloatImage,
    *,
    colour_from: Image | None = None,
) -> Box | None:
    """Blend `crop` (made with `matrix`) into `canvas` in place through `mask`.

    With `colour_from` (the frame's own crop at the same place), the crop first takes its LAB
    mean and spread inside the mask and its light (low frequencies), so a swapped face keeps
    the shot's grade, as the classical swapper's does. The plate's grain is matched either way.
    """
    size = crop.shape[0]
    box = crop_box(matrix, size, canvas.shape)
    if box is None:
        return None
    if colour_from is not None:
        crop = blend_into(crop, colour_from, mask)
    _composite(canvas, warp_back(crop, matrix, box), warp_back(mask, matrix, box), box)
    return box


def swap_mask(size: int) -> FloatImage:
    """The classical swapper's feathered face ellipse, in the ArcFace template at `size`."""
    return face_mask(size)


@functools.cache
def restore_mask(size: int) -> FloatImage:
    """Feathered ellipse over the whole face in GFPGAN's (FFHQ) template at `size`."""
    mask = np.zeros((size, size), dtype=np.float32)
    center = (round(size * 0.5), round(size * 0.56))
    axes = (round(size * 0.33), round(size * 0.40))
    cv2.ellipse(mask, center, axes, 0, 0, 360, 1.0, thickness=-1)
    feather = max(2, round(size * 0.04))
    core = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=feather)
    soft = cv2.GaussianBlur(core, (0, 0), sigmaX=feather / 2)
    soft[mask == 0] = 0.0
    soft.flags.writeable = False
    return np.asarray(soft, dtype=np.float32)
