"""Paste masks like FaceFusion's (box, region, occlusion), built from what ships here.

All masks live in the ArcFace template both swappers work in (`estimate_norm`'s geometry at
any size), so the classical and the neural path paste through the same ones:
- `box`: the template square, feathered (the whole crop, as FaceFusion's box mask).
- `region`: the face parts chosen, as ellipses placed on the template's five points (skin:
  the face ellipse; eyes, brows, nose, mouth: around those points). No face-parsing weights
  ship here, so parts are geometric, not segmented.
- `occlusion`: what stands in front of the face stays in front. A colour model of the target's
  own skin (median and spread in LAB over cheeks and forehead, in this frame) marks the pixels
  of the face that are not skin (a hand, a cup, hair across it, glasses frames, the background
  beside a turned head); over eyes, brows and mouth, which are not skin either, only strong
  colours far from the skin's hue count. Nothing temporal yet: each frame is judged alone.
Masks combine by product (each one can only take pixels away).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

import cv2
import numpy as np
import numpy.typing as npt

from tasks.faces.align import Image
from tasks.spec import FaceMaskKind as MaskKind
from tasks.spec import FaceRegion

FloatImage = npt.NDArray[np.float32]
MASK_KINDS: tuple[MaskKind, ...] = get_args(MaskKind)
FACE_REGIONS: tuple[FaceRegion, ...] = get_args(FaceRegion)

_ARCFACE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
     [70.7299, 92.2041]],
    dtype=np.float64,
)  # fmt: skip
_SKIN_FLOOR = np.array([6.0, 3.0, 3.0])  # least spread (L, a, b) a skin model may have
# Distance from the skin model, in spreads, of an occluding pixel: at 4, 7-28% of t1's faces
# (nostrils, shadows under the lip) were taken for occluders; at 5, 1-4% of frontal faces.
_OCCLUDER = 5.0
# Over eyes, brows and mouth (not skin either), only a strong colour far from the skin's hue:
# LAB a/b units from the skin's median (lips lie ~15 away, a blue cup ~50).
_FEATURE_OCCLUDER = 30.0


@functools.cache
def hard_mask(size: int) -> Image:
    """Binary ellipse over forehead, brows, eyes, nose, mouth and chin in template space (255
    inside). Smaller ellipses blend more than they swap: at 0.30 x 0.33 the result stayed nearer
    the target's identity than the source's for 2 of t1.jpg's 6 people (dlib's judge), at this
    size it is nearer the source for all 6 and for the demo's 3/4-profile cameraman."""
    mask = np.zeros((size, size), dtype=np.uint8)
    center = (round(size * 0.5), round(size * 0.57))
    axes = (round(size * 0.34), round(size * 0.38))
    cv2.ellipse(mask, center, axes, 0, 0, 360, 255, thickness=-1)
    mask.flags.writeable = False  # shared by every swap
    return mask


@functools.cache
def face_mask(size: int) -> FloatImage:
    """Feathered version of `hard_mask`, in [0, 1], zero on and outside the ellipse's edge."""
    feather = max(3, round(size * 0.05))
    core = cv2.erode(hard_mask(size), np.ones((3, 3), np.uint8), iterations=feather)
    soft = cv2.GaussianBlur(core.astype(np.float32) / 255.0, (0, 0), sigmaX=feather / 2)
    soft[hard_mask(size) == 0] = 0.0
    soft.flags.writeable = False
    return np.asarray(soft, dtype=np.float32)


@dataclass(frozen=True)
class MaskSpec:
    """Which masks a face is pasted through. Occlusion is not on by default: on t1's people
    it kept 1-4% of a frontal face (and the background beside a turned head) from the target,
    which left a turned face as near the original as the source (dlib)."""

    kinds: tuple[MaskKind, ...] = ("region",)
    regions: tuple[FaceRegion, ...] = FACE_REGIONS

    @classmethod
    def of(cls, kinds: Sequence[MaskKind], regions: Sequence[FaceRegion]) -> MaskSpec:
        """From the spec's lists (order and repeats do not matter: one cache entry each)."""
        return cls(tuple(sorted(set(kinds))), tuple(sorted(set(regions))))


def points(size: int) -> npt.NDArray[np.float64]:
    """The template's five points at `size` (as insightface's `estimate_norm` places them)."""
    if size % 112 == 0:
        return _ARCFACE * (size / 112)
    ratio = size / 128
    return _ARCFACE * ratio + [8.0 * ratio, 0.0]


DEFAULT_MASKS = MaskSpec()


@functools.cache
def _parts(size: int) -> dict[FaceRegion, npt.NDArray[np.uint8]]:
    """Each face part as a filled shape in template space (255 inside)."""
    p = points(size)
    eye = float(np.linalg.norm(p[1] - p[0]))

    def ellipses(*shapes: tuple[npt.NDArray[np.float64], float, float]) -> npt.NDArray[np.uint8]:
        canvas = np.zeros((size, size), np.uint8)
        for centre, ax, ay in shapes:
            c = (round(float(centre[0])), round(float(centre[1])))
            cv2.ellipse(canvas, c, (round(ax * eye), round(ay * eye)), 0, 0, 360, 255, -1)
        return canvas

    up = np.array([0.0, 0.28 * eye])
    nose_top = (p[0] + p[1]) / 2 + np.array([0.0, 0.15 * eye])
    return {
        "skin": hard_mask(size),
        "eyes": ellipses((p[0], 0.3, 0.17), (p[1], 0.3, 0.17)),
        "brows": ellipses((p[0] - up, 0.34, 0.13), (p[1] - up, 0.34, 0.13)),
        "nose": ellipses(((nose_top + p[2]) / 2, 0.2, 0.42)),
        "mouth": ellipses(((p[3] + p[4]) / 2, 0.55, 0.25)),
    }


@functools.cache
def base_mask(spec: MaskSpec, size: int) -> FloatImage:
    """The box and region parts of `spec` at template `size`: feathered, read-only."""
    mask = np.ones((size, size), np.float32)
    feather = max(2.0, size * 0.025)
    if "box" in spec.kinds:
        pad = round(size * 0.06)
        box = np.zeros((size, size), np.float32)
        box[pad:-pad, pad:-pad] = 1.0
        mask *= cv2.GaussianBlur(box, (0, 0), feather)
    if "region" in spec.kinds:
        if "skin" in spec.regions:
            mask *= face_mask(size)  # the face ellipse: every part inside it
        else:
            parts = np.zeros((size, size), np.uint8)
            for region in spec.regions:
                parts |= _parts(size)[region]
            soft = cv2.GaussianBlur(parts.astype(np.float32) / 255, (0, 0), feather)
            mask *= np.minimum(soft * 1.5, 1.0) * face_mask(size).astype(bool)
    mask.flags.writeable = False
    return mask


@functools.cache
def _skin_sample(size: int) -> npt.NDArray[np.bool_]:
    """Where the target's skin is read: the face ellipse, eroded, less eyes, brows, mouth."""
    core = cv2.erode(hard_mask(size), np.ones((3, 3), np.uint8), iterations=max(2, size // 24))
    features = _features(size)
    return np.asarray((core > 0) & ~features, dtype=bool)


@functools.cache
def _features(size: int) -> npt.NDArray[np.bool_]:
    parts = _parts(size)
    grown = cv2.dilate(parts["eyes"] | parts["brows"] | parts["mouth"], np.ones((5, 5), np.uint8))
    return np.asarray(grown > 0, dtype=bool)


def occlusion(target: Image) -> FloatImage:
    """1 where the target crop shows its face, falling to 0 over what stands in front of it."""
    size = target.shape[0]
    lab = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    skin = lab[_skin_sample(size)]
    centre = np.median(skin, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(skin - centre), axis=0), _SKIN_FLOOR)
    far = np.sqrt((((lab - centre) / spread) ** 2).sum(axis=2)) > _OCCLUDER
    hue = np.sqrt(((lab[..., 1:] - centre[1:]) ** 2).sum(axis=2)) > _FEATURE_OCCLUDER
    far = np.where(_features(size), hue, far) & (hard_mask(size) > 0)
    cleaned = cv2.morphologyEx(far.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    grow = max(1, size // 64)
    cover = cv2.dilate(cleaned, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    soft = cv2.GaussianBlur(cover.astype(np.float32), (0, 0), grow)
    return np.asarray(1.0 - np.clip(soft * 1.5, 0.0, 1.0), np.float32)


def paste_mask(spec: MaskSpec, target: Image) -> FloatImage:
    """The mask a face is pasted through onto `target` (its crop, in template space)."""
    mask = base_mask(spec, target.shape[0])
    if "occlusion" not in spec.kinds:
        return mask
    return np.asarray(mask * occlusion(target), np.float32)
