"""Pose following: a source face texture bent to the target head's pose, inside the face.

Both faces sit in the ArcFace template (a similarity fit of their five keypoints), so a frontal
source laid on a head in three-quarter view keeps its nose and mouth in the middle while the
head's point sideways: the face looks pasted on. Here the source crop is warped with a thin-plate
spline that moves the source's nose tip and mouth sideways as the target's turn says (the
eyes and the crop's border held still), so the features move as wholes and keep their own shape and
texture (identity follows geometry: only the turn is the target's, not its proportions).

A turn beyond what a 2-D warp of a frontal texture can carry (`engine.PROFILE_TURN`: the far
eye goes behind the nose) is not followed here: the engine leaves that face for a compositor.
The neural path's swapper is conditioned on the target crop, so its output already takes the
target's pose; both paths measure the turn and flag faces the same way (`turn`).
"""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from tasks.faces.align import Image, Matrix

Points = npt.NDArray[np.float64]

# Share of the target's turn the source is given. At 1.0 the demo's cameraman (turn 0.36)
# came out at 0.33 but nearer his own identity than the source's (dlib); at 0.7 he came out
# at 0.32 (0.22 pasted frontal) and nearer the source, as all of t1's six people did.
FOLLOW = 0.7
# The mouth sits nearer the axis a head turns about than the nose tip: it moves this share of
# the nose's shift.
MOUTH = 0.5
_MAX_TURN = 0.8  # no more turn than engine.PROFILE_TURN is ever added
_GRID = 8  # the spline is evaluated on a grid this many pixels apart, then enlarged
_BORDER = 32  # still points along the crop's border (fewer let it bulge between them)


def turn(kps: npt.NDArray[np.floating[Any]]) -> float:
    """Signed sideways offset of the nose from the eyes' midpoint, in eye distances (about 0
    for a frontal face; positive: the nose towards the image's right)."""
    eyes = kps[:2]
    span = max(float(np.linalg.norm(eyes[1] - eyes[0])), 1.0)
    return (float(kps[2, 0]) - float(eyes[:, 0].mean())) / span


def in_template(kps: npt.NDArray[np.float32], matrix: Matrix) -> Points:
    """Frame keypoints carried into a crop made with `matrix`."""
    points = np.asarray(kps, np.float64).reshape(-1, 2)
    return np.asarray(points @ matrix[:, :2].T + matrix[:, 2], np.float64)


def follow(crop: Image, source: Points, target: Points, strength: float = FOLLOW) -> Image:
    """`crop` (the source face in template space, its keypoints at `source`) warped so its
    turn (`turn`) becomes `strength` of the way to the target's (its keypoints at `target` in
    the same space): the nose moves sideways by the difference, the mouth by MOUTH of it, the
    eyes stay. Only the turn is taken, not the target's whole layout: a detector's keypoints on
    a real three-quarter head (the demo's cameraman) are too far from any face's proportions
    to be copied, and the source's own proportions are part of its identity."""
    size = crop.shape[0]
    span = max(float(np.linalg.norm(source[1] - source[0])), 1.0)
    wanted = float(np.clip(turn(target) - turn(source), -_MAX_TURN, _MAX_TURN)) * strength
    shift = wanted * span
    if abs(shift) < 0.25:  # under a quarter pixel: nothing to see
        return crop
    where = source.copy()
    where[2, 0] += shift
    where[3:, 0] += MOUTH * shift
    # Backward map: for each output pixel, where in the source crop to read.
    fixed = _border(size)
    moved = _spline(np.vstack([where, fixed]), np.vstack([source, fixed]), size)
    maps = cv2.resize(moved, (size, size), interpolation=cv2.INTER_LINEAR) + _pixels(size)
    warped = cv2.remap(
        crop, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, np.uint8)


def _spline(frm: Points, to: Points, size: int) -> npt.NDArray[np.float32]:
    """The shift (to - where) a thin-plate spline through frm -> to gives, on a coarse grid
    (cells x cells x 2): smooth, so enlarging it is exact enough where a map of positions
    would be misplaced by the resize's half-cell offsets."""
    from scipy.interpolate import RBFInterpolator

    cells = size // _GRID + 1
    axis = np.linspace(0.0, size - 1.0, cells)
    xs, ys = np.meshgrid(axis, axis)
    spline = RBFInterpolator(frm, to, kernel="thin_plate_spline")
    at = np.column_stack([xs.ravel(), ys.ravel()])
    return np.asarray((spline(at) - at).reshape(cells, cells, 2), np.float32)


@functools.cache
def _pixels(size: int) -> npt.NDArray[np.float32]:
    """Each pixel's own (x, y), size x size x 2."""
    xs, ys = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


@functools.cache
def _border(size: int) -> Points:
    """Points along the crop's edge that stay where they are."""
    ticks = np.linspace(0.0, size - 1.0, _BORDER // 4 + 1)[:-1]
    edge = size - 1.0
    sides = [
        np.column_stack([ticks, np.zeros_like(ticks)]),
        np.column_stack([np.full_like(ticks, edge), ticks]),
        np.column_stack([edge - ticks, np.full_like(ticks, edge)]),
        np.column_stack([np.zeros_like(ticks), edge - ticks]),
    ]
    points = np.vstack(sides)
    points.flags.writeable = False
    return points
