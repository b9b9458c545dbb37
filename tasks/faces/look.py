"""Whether a replaced face belongs in its shot: figures on a frame before and after the swap.

All figures compare the face (inside the paste mask) with a ring of the frame just outside it,
so they read the shot's own grade, grain and light, whatever the face:
- `chroma_gap`: distance between the mean chroma (LAB a, b) of the face and of the ring; a
  face carrying a colour cast the shot lacks scores high.
- `seam_ratio`: gradient energy along the mask's border over the gradient energy inside the
  face; above 1, the border is an edge of its own.
- `halo_step`: the luminance step across the border (just inside minus just outside), so a
  before/after difference is a bright or dark rim the swap drew.
- `detail_ratio`: band-pass energy (grain, pores, stubble) inside the face over the ring's.
- `band_step`: how much paler (luminance, chroma) the swap made the skin of the face's upper
  half (forehead, around the eyes) against the skin of its lower half, before to after: a
  face lit otherwise than the shot shows as a band (the source's own light, kept).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from tasks.faces.align import Image, crop_box, estimate_transform, warp_back
from tasks.faces.detect import Face
from tasks.faces.masks import face_mask, region_parts

Mask = npt.NDArray[np.bool_]
FloatImage = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Regions:
    """Pixel sets of one face in frame coordinates."""

    face: Mask  # well inside the paste mask
    border: Mask  # a thin band on the mask's outer edge
    inner: Mask  # just inside the border
    ring: Mask  # just outside the border


def regions(face: Face, shape: tuple[int, ...], mask: FloatImage, size: int) -> Regions:
    """The regions of `face` for a template-space paste `mask` of side `size`."""
    matrix = estimate_transform(face.kps, size)
    box = crop_box(matrix, size, shape)
    alpha = np.zeros(shape[:2], np.float32)
    if box is not None:
        x0, y0, x1, y1 = box
        alpha[y0:y1, x0:x1] = warp_back(np.ascontiguousarray(mask), matrix, box)
    covered = (alpha > 0.01).astype(np.uint8)
    span = max(float(np.linalg.norm(face.kps[1] - face.kps[0])), 4.0)
    width = max(2, round(span * 0.12))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    grown = cv2.dilate(covered, kernel).astype(bool)
    shrunk = cv2.erode(covered, kernel).astype(bool)
    thin = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    edge = cv2.dilate(covered, thin).astype(bool) & ~cv2.erode(covered, thin).astype(bool)
    return Regions(
        face=alpha > 0.95,
        border=edge,
        inner=covered.astype(bool) & ~shrunk & (alpha < 0.95),
        ring=grown & ~covered.astype(bool),
    )


def _lab(image: Image) -> FloatImage:
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2LAB), np.float32)


def chroma(image: Image) -> FloatImage:
    """Each pixel's chroma: distance of LAB (a, b) from neutral, in 8-bit LAB units."""
    lab = _lab(image)
    return np.asarray(np.hypot(lab[..., 1] - 128, lab[..., 2] - 128), np.float32)


def chroma_gap(image: Image, where: Regions) -> float:
    lab = _lab(image)
    inside = lab[where.face][:, 1:].mean(axis=0)
    around = lab[where.ring][:, 1:].mean(axis=0)
    return float(np.linalg.norm(inside - around))


def _gradient(image: Image) -> FloatImage:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(gx * gx + gy * gy, np.float32)


def seam_ratio(image: Image, where: Regions) -> float:
    energy = _gradient(image)
    return float(energy[where.border].mean() / max(float(energy[where.face].mean()), 1e-6))


def halo_step(image: Image, where: Regions) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(grey[where.inner].mean() - grey[where.ring].mean())


def band_pass(image: Image, sigma: float = 1.0) -> FloatImage:
    """Fine detail: the grey image minus a blur of it (grain, pores, stubble)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.asarray(grey - cv2.GaussianBlur(grey, (0, 0), sigma), np.float32)


def detail_ratio(image: Image, where: Regions) -> float:
    fine = band_pass(image) ** 2
    return float(fine[where.face].mean() / max(float(fine[where.ring].mean()), 1e-6))


@functools.cache
def _halves(size: int) -> tuple[Mask, Mask]:
    """Skin of the template's face ellipse (features and their edges left out), above and
    below the eyes' line a little under the template's eye height (0.5 of the side)."""
    parts = region_parts(size)
    features = parts["eyes"] | parts["brows"] | parts["nose"] | parts["mouth"]
    grown = cv2.dilate(features, np.ones((7, 7), np.uint8)) > 0
    skin = (face_mask(size) > 0.9) & ~grown
    upper = np.zeros((size, size), bool)
    upper[: size // 2] = True
    return skin & upper, skin & ~upper


def _lab_chroma(image: Image) -> FloatImage:
    lab = _lab(image)
    return np.dstack([lab[..., 0], np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)])


def band_step(before: Image, after: Image, face: Face, size: int = 256) -> tuple[float, float]:
    """(luminance, chroma) the swap added to the face's upper skin beyond what it added to its
    lower skin, in 8-bit LAB levels: positive luminance and negative chroma read as a paler
    band across forehead and eyes. Read in template space at `size`."""
    matrix = estimate_transform(face.kps, size)
    crops = [cv2.warpAffine(image, matrix, (size, size)) for image in (before, after)]
    change = _lab_chroma(np.asarray(crops[1])) - _lab_chroma(np.asarray(crops[0]))
    upper, lower = _halves(size)
    step = change[upper].mean(axis=0) - change[lower].mean(axis=0)
    return float(step[0]), float(step[1])
