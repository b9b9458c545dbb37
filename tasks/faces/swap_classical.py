"""The offline classical face swapper: align, colour-match, shade, paste back with the grain.

Both faces are brought into the same template geometry (InsightFace's five-point template), so
the source crop already sits on the target's features there. In that space the source gets the
target's grade (mean/spread in LAB inside the face mask; chroma may shrink to none, so a
black-and-white shot stays so) and the target's light (`match_shading`: the low frequencies
of the target, the fine structure of the source); the result is warped back onto the frame
through a feathered elliptical mask, its fine detail matched to the plate's (`match_detail`:
grain added to a face smoother than the plate, a face sharper than the plate softened).
Working in template space keeps the cost fixed whatever the face size. Pixels outside the
warped template square are never written. The neural path pastes through the same code
(`tasks.faces.paste`).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from tasks.faces import pose
from tasks.faces.align import Box, Image, align_face, crop_box, estimate_transform, warp_back
from tasks.faces.detect import Face
from tasks.faces.masks import (
    DEFAULT_MASKS,
    FaceMemory,
    MaskSpec,
    face_mask,
    hard_mask,
    paste_mask,
    region_parts,
)

__all__ = ["MaskSpec", "face_mask", "hard_mask", "paste_face", "prepare_source", "swap_face"]

log = logging.getLogger(__name__)

CROP_SIZES = (256, 512)  # template sizes; the larger one for faces that fill the frame
_STD_RATIO = (0.5, 1.5)  # clamp colour-transfer gain: full gains turn rosy cheeks into blotches
# Chroma may shrink to nothing: a black-and-white or bleached shot gives the face none.
_CHROMA_RATIO = (0.0, 1.5)
# Shading blur (grade and light), in template sides: 0.015 kept the target's identity for 3 of
# t1's 6 people (dlib), 0.03 moved it less towards the source than Poisson blending; 0.05
# matches Poisson.
_SHADING_SIGMA = 0.05
# Light (luminance) blur, read on skin only: eyes, brows, nose and mouth left out of both
# faces' estimates, so the target's features do not come with its light. With the 0.05 blur
# alone the source's own light (the astronaut's flash) stayed as a band across forehead and
# eyes, 11.5 L levels paler against the rest of the face than the original's (frame 50 of a
# push-in on t1, 6 faces; 17.3 at most); at 0.04, 7.8 (9.1). The cost is identity margin: a
# render of that film kept 32 of 36 QC samples nearer the source (dlib; 35 with the 0.05 blur
# alone; the three lost within 0.004), the demo's cameraman 0.04 nearer the source than
# himself (0.12 before). At 0.045 the render kept 33 but the cameraman came out nearer himself.
_LIGHT_SIGMA = 0.04
# Changes whenever a paste's look does (a swap unit's cache key holds it): units cached with
# an earlier look are made again, not reused.
LOOK = ("light", _SHADING_SIGMA, _LIGHT_SIGMA)
_GRAIN_SIGMA = 1.0  # the blur whose residual is "fine detail" (grain, pores, stubble)
_SHARPER = 1.15  # a face this much sharper than the one it replaces is softened
_SOFTEN = (0.5, 0.7, 1.0, 1.4, 2.0)  # blurs tried, gentlest first

FloatImage = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class SourceFace:
    """The face to put in, aligned once at every template size, with its keypoints there."""

    crops: dict[int, Image]
    points: dict[int, pose.Points] = field(default_factory=dict)

    def crop(self, size: int) -> Image:
        return self.crops[size]

    def following(self, size: int, target: pose.Points, strength: float = pose.FOLLOW) -> Image:
        """The crop bent to the pose of a target whose keypoints lie at `target` there."""
        if size not in self.points or strength <= 0:
            return self.crops[size]
        return pose.follow(self.crops[size], self.points[size], target, strength)


def prepare_source(image: Image, face: Face) -> SourceFace:
    """Align the source face for later swaps (done once per source image)."""
    crops, points = {}, {}
    for size in CROP_SIZES:
        crops[size], matrix = align_face(image, face.kps, size)
        points[size] = pose.in_template(face.kps, matrix)
    return SourceFace(crops=crops, points=points)


def swap_face(
    frame: Image,
    target: Face,
    source: SourceFace,
    masks: MaskSpec = DEFAULT_MASKS,
    follow: float = pose.FOLLOW,
) -> Image:
    """A copy of `frame` with `target`'s face replaced by `source`."""
    canvas = frame.copy()
    paste_face(canvas, target, source, masks, follow=follow)
    return canvas


def paste_face(
    canvas: Image,
    target: Face,
    source: SourceFace,
    masks: MaskSpec = DEFAULT_MASKS,
    memory: FaceMemory | None = None,
    follow: float = pose.FOLLOW,
) -> Box | None:
    """Replace `target`'s face in `canvas` in place; the frame region written, or None.
    `memory`: the face's track's, for the occlusion mask; `follow`: how far the source's
    features are moved to the target's pose (tasks.faces.pose; 0: pasted as aligned)."""
    size = _crop_size(target)
    matrix = estimate_transform(target.kps, size)
    box = crop_box(matrix, size, canvas.shape)
    if box is None:
        return None
    target_crop = np.asarray(
        cv2.warpAffine(canvas, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE),
        dtype=np.uint8,
    )
    soft = paste_mask(masks, target_crop, memory)
    face = source.following(size, pose.in_template(target.kps, matrix), follow)
    blended = blend_into(face, target_crop, soft)
    _composite(canvas, warp_back(blended, matrix, box), warp_back(soft, matrix, box), box)
    return box


def blend_into(face: Image, target: Image, mask: FloatImage) -> Image:
    """`face` with the grade and light of `target` where `mask` lets the face in (occluders
    and the background stay out of both estimates)."""
    region = mask > 0.5
    if region.sum() < 64:  # nearly all occluded: any estimate will do, nothing shows
        region = face_mask(mask.shape[0]) > 0.5
    matched = transfer_colour(face, target, region)
    size = mask.shape[0]
    weight = mask > 0.05
    light = np.asarray(weight & ~_features(size), np.float32)
    return match_shading(matched, target, np.asarray(weight, np.float32), size, light)


@functools.cache
def _features(size: int) -> npt.NDArray[np.bool_]:
    """Eyes, brows, nose and mouth (grown a little): not read for the light, whose features
    would otherwise come along with it."""
    parts = region_parts(size)
    grown = cv2.dilate(
        parts["eyes"] | parts["brows"] | parts["nose"] | parts["mouth"], np.ones((5, 5), np.uint8)
    )
    features = np.asarray(grown > 0, dtype=bool)
    features.flags.writeable = False
    return features


def _crop_size(face: Face) -> int:
    # Upsampling a 256 crop onto a big face blurs it: eyes over 80 px apart get the 512 crop.
    span = float(np.linalg.norm(face.kps[1] - face.kps[0]))
    return CROP_SIZES[1] if span > 80 else CROP_SIZES[0]


def transfer_colour(source: Image, target: Image, region: npt.NDArray[np.bool_]) -> Image:
    """`source` with the LAB mean and spread of `target` inside `region` (OpenCV's masked
    statistics and one per-channel affine map: 5x cheaper than numpy's boolean indexing)."""
    src = cv2.cvtColor(source, cv2.COLOR_RGB2LAB)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB)
    where = region.astype(np.uint8)
    src_mean, src_std = (np.ravel(v) for v in cv2.meanStdDev(src, mask=where))
    dst_mean, dst_std = (np.ravel(v) for v in cv2.meanStdDev(dst, mask=where))
    ratio = dst_std / np.maximum(src_std, 1e-3)
    gain = np.concatenate([np.clip(ratio[:1], *_STD_RATIO), np.clip(ratio[1:], *_CHROMA_RATIO)])
    # (src - src_mean) * gain + dst_mean, rounded and saturated to uint8 by cv2.transform.
    affine = np.hstack([np.diag(gain), (dst_mean - src_mean * gain)[:, None]])
    lab = cv2.transform(src, affine)
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), dtype=np.uint8)


def match_shading(
    face: Image, target: Image, weight: FloatImage, size: int, light: FloatImage | None = None
) -> Image:
    """`face` with the low frequencies (light, shadow side, grade) of `target` under `weight`,
    its own fine structure (the features that make it someone) kept. Blurs are normalised by
    the blurred weight, so what lies outside the face does not leak in. Poisson blending, used
    before, took its level from the mask's edge: on the test faces it lifted the face's
    luminance by up to 30 levels and its chroma off the shot's grade. With `light` (a weight
    on skin only), the luminance is instead read under it at a finer scale (`_LIGHT_SIGMA`):
    the target's light without its features.

    The blur is linear, so one blur of the weighted difference serves both images, and it is
    wide (sigma = 4-5% of the crop), so it runs on a copy shrunk to about 3 pixels per sigma and
    is enlarged back: within 2 levels of the full-size blur, at a tenth of the cost."""
    diff = target.astype(np.float32) - face.astype(np.float32)
    step = max(1, int(_LIGHT_SIGMA * size // 3))  # one grid for both blurs, resized once
    low = _weighted_low(diff, weight, _SHADING_SIGMA * size, step)
    if light is not None:
        grey = np.asarray(cv2.cvtColor(diff, cv2.COLOR_RGB2GRAY), np.float32)
        shift = _weighted_low(grey, light, _LIGHT_SIGMA * size, step)
        # Adding the same to R, G and B moves the luminance alone (its weights sum to 1).
        low += (shift - np.asarray(cv2.cvtColor(low, cv2.COLOR_RGB2GRAY), np.float32))[..., None]
    up = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)
    out = np.clip(np.rint(face.astype(np.float32) + up), 0, 255)
    return np.asarray(out, np.uint8)


def _weighted_low(values: FloatImage, weight: FloatImage, sigma: float, step: int) -> FloatImage:
    """Gaussian low-pass of `values` over the pixels `weight` keeps (normalised convolution),
    on a copy shrunk by `step` (left shrunk)."""
    size = weight.shape[0]
    small = (size // step, size // step)
    weighted = values * (weight[..., None] if values.ndim == 3 else weight)
    low = _shrunk_blur(weighted, small, sigma / step)
    norm = _shrunk_blur(weight, small, sigma / step) + np.float32(1e-4)
    return np.asarray(low / (norm[..., None] if low.ndim == 3 else norm), np.float32)


def _shrunk_blur(image: FloatImage, size: tuple[int, int], sigma: float) -> FloatImage:
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(small, (0, 0), sigma), np.float32)


def _composite(canvas: Image, face: Image, alpha: FloatImage, box: Box) -> None:
    """Blend `face` into `canvas` over `box` through `alpha`, its detail matched to the plate."""
    x0, y0, x1, y1 = box
    region = canvas[y0:y1, x0:x1]
    weight = alpha[..., None]
    pasted = match_detail(face, region, alpha)
    mixed = region + weight * (pasted - region)
    canvas[y0:y1, x0:x1] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _fine_sigma(grey: FloatImage, where: npt.NDArray[np.bool_]) -> float:
    """Spread (root mean square) of the fine detail at `where`."""
    fine = grey - cv2.GaussianBlur(grey, (0, 0), _GRAIN_SIGMA)
    values = fine[where]
    return float(np.sqrt(np.mean(values * values))) if values.size else 0.0


def match_detail(face: Image, plate: Image, alpha: FloatImage) -> FloatImage:
    """`face` (float) with the fine detail of the face it replaces in `plate`.

    A face from a 256/512 template laid on a sharp, grainy 4K plate is smoother than the plate:
    it gets luminance grain that makes up the difference (neutral, so a black-and-white shot
    stays so; seeded by the plate, so the same frame renders the same). A face sharper than the
    plate (a crisp source on a soft shot) is blurred until it is no sharper."""
    out = face.astype(np.float32)
    inside = alpha > 0.9
    if inside.sum() < 64:
        return out
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float32)
    have = _fine_sigma(grey, inside)
    want = _fine_sigma(cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY).astype(np.float32), inside)
    if have > _SHARPER * want:
        return _soften(out, inside, have, _SHARPER * want)
    missing = want**2 - have**2
    if missing <= 0.25:
        return out
    rng = np.random.default_rng(int(plate[::31, ::31].sum()))
    noise = rng.standard_normal(alpha.shape, dtype=np.float32)
    # White noise keeps this share of its spread in the fine band: scale to make up the gap.
    gain = np.float32(np.sqrt(missing) / _white_fine_sigma())
    return np.asarray(out + (noise * gain)[..., None], np.float32)


def _soften(
    face: FloatImage, inside: npt.NDArray[np.bool_], have: float, goal: float
) -> FloatImage:
    """`face` blurred until its fine detail is down to `goal`: between the two blurs that
    bracket it, mixed in proportion, so the result moves smoothly with the frames (a blur
    chosen from a list would jump between steps and flicker)."""
    before, level = face, have
    for sigma in _SOFTEN:
        out = np.asarray(cv2.GaussianBlur(face, (0, 0), sigma), np.float32)
        now = _fine_sigma(np.asarray(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), np.float32), inside)
        if now <= goal:
            share = np.float32((level - goal) / max(level - now, 1e-6))
            return np.asarray(before + share * (out - before), np.float32)
        before, level = out, now
    return before


@functools.cache
def _white_fine_sigma() -> float:
    """The fine-detail spread (as `_fine_sigma` measures it) of unit white noise."""
    noise = np.random.default_rng(0).standard_normal((256, 256), dtype=np.float32)
    return _fine_sigma(noise, np.ones(noise.shape, bool))
