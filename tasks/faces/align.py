"""Five-point alignment to InsightFace's ArcFace template, and the inverse warp for paste-back.

The forward transform comes from `insightface.utils.face_align.estimate_norm`; everything here
keeps that 2x3 matrix `M` (frame -> crop) so a crop can be warped back onto the frame.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1, end exclusive

_Pixel = TypeVar("_Pixel", np.uint8, np.float32)

DEFAULT_CROP = 256  # a multiple of 128: InsightFace's template then leaves room for the chin


@contextmanager
def quiet_estimate() -> Iterator[None]:
    """scikit-image deprecates SimilarityTransform.estimate, which insightface still calls."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def estimate_transform(kps: npt.NDArray[np.float32], size: int = DEFAULT_CROP) -> Matrix:
    """Similarity transform (2x3, frame -> crop) taking `kps` onto the ArcFace template."""
    from insightface.utils import face_align

    points = np.asarray(kps, dtype=np.float32).reshape(5, 2)
    with quiet_estimate():
        matrix = face_align.estimate_norm(points, image_size=size)
    return np.asarray(matrix, dtype=np.float64)


def align_face(
    image: Image, kps: npt.NDArray[np.float32], size: int = DEFAULT_CROP
) -> tuple[Image, Matrix]:
    """The face crop in template geometry, and the matrix that produced it."""
    matrix = estimate_transform(kps, size)
    # Replicated borders keep colour statistics sane for faces cut by the frame edge.
    crop = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(crop, dtype=np.uint8), matrix


def crop_box(matrix: Matrix, size: int, frame_shape: tuple[int, ...]) -> Box | None:
    """Frame region covered by a `size` crop made with `matrix`, clipped; None if off-frame."""
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
    inverse = cv2.invertAffineTransform(matrix)
    points = corners @ inverse[:, :2].T + inverse[:, 2]
    height, width = frame_shape[:2]
    x0 = max(int(np.floor(points[:, 0].min())), 0)
    y0 = max(int(np.floor(points[:, 1].min())), 0)
    x1 = min(int(np.ceil(points[:, 0].max())) + 1, width)
    y1 = min(int(np.ceil(points[:, 1].max())) + 1, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def warp_back(crop: npt.NDArray[_Pixel], matrix: Matrix, box: Box) -> npt.NDArray[_Pixel]:
    """Warp a template-space `crop` (image or mask) onto the frame region `box`.

    Only the region is computed: warping a whole 4K frame per face would dominate the cost.
    """
    x0, y0, x1, y1 = box
    inverse = cv2.invertAffineTransform(matrix)
    inverse[:, 2] -= (x0, y0)
    out = cv2.warpAffine(
        crop, inverse, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return np.asarray(out, dtype=crop.dtype)
