"""Paste masks like FaceFusion's (box, region, occlusion), built from what ships here.

All masks live in the ArcFace template both swappers work in (`estimate_norm`'s geometry at
any size), so the classical and the neural path paste through the same ones:
- `box`: the template square, feathered (the whole crop, as FaceFusion's box mask).
- `region`: the face parts chosen, as ellipses placed on the template's five points (skin:
  the face ellipse; eyes, brows, nose, mouth: around those points). No face-parsing weights
  ship here, so parts are geometric, not segmented.
- `occlusion`: what stands in front of the face stays in front. A colour model of the target's
  own skin (median and spread in LAB over cheeks and forehead, in this frame) marks the pixels
  of the face that are not skin; alone it also took nostrils and shadows under the lip (1-4%
  of a frontal face) for occluders. So it counts only where the face also changed against
  its own recent look in the same track (`FaceMemory`: the template-space crop, averaged over
  the frames it was seen uncovered): a hand, a phone, hair swinging across come in, nostrils
  are there in every frame. Strong colours far from the skin's hue (a blue cup, a red glove)
  count without that, also over eyes, brows and mouth (not skin either, and changing as the
  person blinks and talks), and on a track's first frame, which has no past.
Masks combine by product (each one can only take pixels away).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
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
# Without the face's past, only a strong colour of another hue family: LAB a/b units from the
# skin's median (lips lie 15-30 away, a blue cup ~50)...
_FEATURE_OCCLUDER = 30.0
# ... and this far round the hue circle from the skin's (on t1's saturated people, lips sit
# up to ~45 degrees off it, orange hair ~10; blue and green things 100 or more).
_OFF_HUE = np.deg2rad(60.0)
# A pixel changed against the track's past look when it left the range its 5x5 neighbourhood
# had there (keypoint jitter moves features by a pixel or two) by more than this, in LAB
# (after the whole face's change of light is taken out).
_CHANGED = np.array([12.0, 8.0, 8.0], np.float32)
_REMEMBER = 0.25  # weight of the newest uncovered frame in a track's look
# ... and of a covered one: what stays in front for seconds (or a chin line the keypoints
# placed a little differently) becomes part of the face's look at last.
_SETTLE = 0.03


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
    """Which masks a face is pasted through. Occlusion is on by default: judged against each
    face's own past it takes no part of an unoccluded face (the skin model alone kept 1-4% of
    a frontal face, so it was off by default before)."""

    kinds: tuple[MaskKind, ...] = ("occlusion", "region")
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


def region_parts(size: int) -> dict[FaceRegion, npt.NDArray[np.uint8]]:
    """Each face part as a filled shape in template space (255 inside; shared, do not write)."""
    return _parts(size)


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
def _skin_points(size: int) -> npt.NDArray[np.intp]:
    """Every 4th pixel of `_skin_sample`, as flat indices: its medians at a quarter the cost."""
    points = np.flatnonzero(_skin_sample(size))[::4]
    points.flags.writeable = False
    return points


@functools.cache
def _features(size: int) -> npt.NDArray[np.bool_]:
    parts = _parts(size)
    grown = cv2.dilate(parts["eyes"] | parts["brows"] | parts["mouth"], np.ones((5, 5), np.uint8))
    return np.asarray(grown > 0, dtype=bool)


@dataclass(eq=False)
class FaceMemory:
    """A tracked face's recent look in template space, per crop size (LAB, float): where the
    face is uncovered, each frame moves it by `_REMEMBER`; under an occluder by `_SETTLE`."""

    looks: dict[int, FloatImage] = field(default_factory=dict)


def occlusion(target: Image, memory: FaceMemory | None = None) -> FloatImage:
    """1 where the target crop shows its face, falling to 0 over what stands in front of it.
    Without `memory` (or on a track's first frame) only strong off-skin colours count."""
    size = target.shape[0]
    lab = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    sample = _skin_points(size)
    skin = lab.reshape(-1, 3)[sample]
    centre = np.median(skin, axis=0)
    covered = _off_hue(lab, centre)
    past = memory.looks.get(size) if memory is not None else None
    if past is not None:
        spread = np.maximum(1.4826 * np.median(np.abs(skin - centre), axis=0), _SKIN_FLOOR)
        unlike = _norm2(lab - centre.astype(np.float32), spread) > _OCCLUDER**2
        covered |= _reaching_in(unlike & _changed(lab, past, sample) & (hard_mask(size) > 0), size)
    covered &= hard_mask(size) > 0
    cleaned = cv2.morphologyEx(covered.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    grow = max(1, size // 64)
    cover = cv2.dilate(cleaned, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    soft = np.clip(cv2.GaussianBlur(cover.astype(np.float32), (0, 0), grow) * 1.5, 0.0, 1.0)
    if memory is not None:
        rate = np.where(soft == 0, _REMEMBER, _SETTLE)[..., None].astype(np.float32)
        memory.looks[size] = lab if past is None else past + rate * (lab - past)
    return np.asarray(1.0 - soft, np.float32)


def _off_hue(lab: FloatImage, skin: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Strong colours of another hue family than the skin's (a blue cup, a green sleeve):
    lips, nostrils, shadows and red or blond hair share the skin's family."""
    a, b = lab[..., 1] - np.float32(128), lab[..., 2] - np.float32(128)
    ta, tb = float(skin[1]) - 128.0, float(skin[2]) - 128.0
    far = (a - ta) ** 2 + (b - tb) ** 2 > _FEATURE_OCCLUDER**2
    # The angle between the two hues exceeds _OFF_HUE: their dot product is below its cosine.
    along = (a * ta + b * tb) < np.cos(_OFF_HUE) * np.sqrt((a * a + b * b) * (ta * ta + tb * tb))
    return np.asarray(far & along, dtype=bool)


def _reaching_in(candidates: npt.NDArray[np.bool_], size: int) -> npt.NDArray[np.bool_]:
    """The candidate blobs with a part outside eyes, brows and mouth: an occluder over the lips
    is one blob with its part over the chin; a mouth opening to talk is all inside."""
    count, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    if count <= 1:
        return candidates
    outside = np.unique(labels[candidates & ~_features(size)])
    return np.asarray(np.isin(labels, outside[outside > 0]), dtype=bool)


def _changed(
    lab: FloatImage, past: FloatImage, sample: npt.NDArray[np.intp]
) -> npt.NDArray[np.bool_]:
    """Pixels outside the range their neighbourhood had in `past`, the face's overall change
    of light (median over the skin) taken out first."""
    shift = np.median(lab.reshape(-1, 3)[sample] - past.reshape(-1, 3)[sample], axis=0)
    now = lab - shift.astype(np.float32)
    reach = 2 * max(4, lab.shape[0] // 64) + 1
    kernel = np.ones((reach, reach), np.uint8)
    low = np.asarray(cv2.erode(past, kernel), np.float32)
    high = np.asarray(cv2.dilate(past, kernel), np.float32)
    out = np.maximum(np.maximum(low - now, now - high), np.float32(0))
    return np.asarray(_norm2(out, _CHANGED) > 1.0, dtype=bool)


def _norm2(values: FloatImage, scale: npt.NDArray[np.floating]) -> FloatImage:
    """Per pixel, the sum over channels of (value / scale) squared (OpenCV's channel mix:
    numpy's sum over the last axis is several times slower)."""
    weights = (1.0 / np.asarray(scale, np.float64) ** 2)[None, :]
    return np.asarray(cv2.transform(values * values, weights), np.float32)


def paste_mask(spec: MaskSpec, target: Image, memory: FaceMemory | None = None) -> FloatImage:
    """The mask a face is pasted through onto `target` (its crop, in template space); with
    occlusion, `memory` is the face's track's (updated here: one call per frame and face)."""
    mask = base_mask(spec, target.shape[0])
    if "occlusion" not in spec.kinds:
        return mask
    return np.asarray(mask * occlusion(target, memory), np.float32)
