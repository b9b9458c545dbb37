"""Contact sheets for review: each shot's middle frame before and after the render, side by
side, one row per shot. A feature has thousands of shots, so the sheet is paged: one JPEG per
`PER_PAGE` shots (about 1 MB each at 320-pixel thumbnails), never one image too tall to open."""

from __future__ import annotations

import logging
from collections.abc import Generator
from contextlib import closing
from pathlib import Path

import av
import cv2
import numpy as np

from tasks.media.decode import video_frames
from tasks.media.frames import decoded_frames, to_rgb
from tasks.spec import Probe, Shot, ShotList, SpecError

log = logging.getLogger(__name__)

LABEL_HEIGHT = 22
PER_PAGE = 40  # shots (rows) per page
THUMB_WIDTH = 320  # the sheet's and the QC page's thumbnails (tasks.qc.thumbs)
JPEG_QUALITY = 85
GAP = 4
_FONT = cv2.FONT_HERSHEY_SIMPLEX

# Per shot: its middle frame's index, the frame before the render and after it.
ShotPairs = dict[int, tuple[int, np.ndarray, np.ndarray]]


def middle_frame(start: int, end: int) -> int:
    """The frame a shot is shown by (contact sheet, QC thumbnails): its middle one."""
    return (start + end - 1) // 2


def shot_pairs(
    before: Path,
    after: Path,
    shots: ShotList,
    before_info: Probe | None = None,
    width: int = THUMB_WIDTH,
) -> ShotPairs:
    """Each shot's middle frame before and after, each film decoded once up to the last one,
    kept `width` wide (what the sheet and the QC thumbnails show: full frames of every shot
    would hold the film's length in memory, 4 GB for 3,000 shots at 640x360); `before_info`,
    the source's probe, numbers a variable-rate source's frames as split did."""
    wanted = {s.index: middle_frame(s.start_frame, s.end_frame) for s in shots.shots}
    before_frames = frames_at(before, set(wanted.values()), before_info, width)
    after_frames = frames_at(after, set(wanted.values()), width=width)
    return {shot: (i, before_frames[i], after_frames[i]) for shot, i in wanted.items()}


def contact_sheet(
    before: Path,
    after: Path,
    shots: ShotList,
    out_png: Path,
    thumb_width: int = THUMB_WIDTH,
    pairs: ShotPairs | None = None,
) -> Path:
    """Write one row per shot (label, before, after) to `out_png`; `pairs` if already decoded."""
    if thumb_width < 16:
        raise SpecError(f"thumb_width {thumb_width} is too small")
    pairs = pairs if pairs is not None else shot_pairs(before, after, shots, width=thumb_width)
    rows = [_shot_row(shot, pairs, thumb_width) for shot in shots.shots]
    sheet = _stack(rows)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_png), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise SpecError(f"could not write {out_png}")
    log.info("contact sheet of %d shots: %s", len(rows), out_png)
    return out_png


def contact_sheets(
    before: Path,
    after: Path,
    shots: ShotList,
    out_dir: Path,
    thumb_width: int = THUMB_WIDTH,
    pairs: ShotPairs | None = None,
    per_page: int = PER_PAGE,
) -> list[Path]:
    """Write the sheet as JPEG pages of `per_page` shots, `out_dir/page-0001.jpg` on; the pages
    in order. `pairs` if already decoded."""
    if thumb_width < 16 or per_page < 1:
        raise SpecError(f"thumb_width {thumb_width} or per_page {per_page} is too small")
    pairs = pairs if pairs is not None else shot_pairs(before, after, shots, width=thumb_width)
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = []
    for number, first in enumerate(range(0, len(shots.shots), per_page), start=1):
        rows = [
            _shot_row(shot, pairs, thumb_width) for shot in shots.shots[first : first + per_page]
        ]
        page = out_dir / f"page-{number:04d}.jpg"
        bgr = cv2.cvtColor(_stack(rows), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(page), bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise SpecError(f"could not write {page}")
        pages.append(page)
    log.info("contact sheet of %d shots: %d pages in %s", len(shots.shots), len(pages), out_dir)
    return pages


def _shot_row(shot: Shot, pairs: ShotPairs, thumb_width: int) -> np.ndarray:
    frame, first, second = pairs[shot.index]
    span = f"frames {shot.start_frame}-{shot.end_frame - 1}"
    label = f"shot {shot.index}  {span}  mid {frame}  before / after"
    return _row(label, [thumb(first, thumb_width), thumb(second, thumb_width)])


def frames_at(
    path: Path, indices: set[int], info: Probe | None = None, width: int | None = None
) -> dict[int, np.ndarray]:
    """The frames at `indices` (RGB; `width` wide, `thumb`, when given), in one pass that stops
    after the last one; only those are converted from the decoder's pictures. `info`: the
    film's probe, for a variable-rate film (retimed as every stage reads it)."""
    found: dict[int, np.ndarray] = {}
    last = max(indices)
    with closing(_pictures(path, info)) as frames:
        for index, frame in enumerate(frames):
            if index in indices:
                rgb = to_rgb(frame)
                found[index] = rgb if width is None else thumb(rgb, width)
            if index >= last:
                break
    missing = sorted(indices - found.keys())
    if missing:
        raise SpecError(f"{path} has no frame {missing[0]}")
    return found


def _pictures(path: Path, info: Probe | None) -> Generator[av.VideoFrame, None, None]:
    yield from (decoded_frames(path, info) if info is not None else video_frames(path))


def thumb(frame: np.ndarray, width: int) -> np.ndarray:
    height = max(1, round(frame.shape[0] * width / frame.shape[1]))
    return np.asarray(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))


def _row(label: str, thumbs: list[np.ndarray]) -> np.ndarray:
    height = max(t.shape[0] for t in thumbs)
    width = sum(t.shape[1] for t in thumbs) + GAP * (len(thumbs) - 1)
    row = np.full((LABEL_HEIGHT + height, width, 3), 24, dtype=np.uint8)
    cv2.putText(row, label, (4, LABEL_HEIGHT - 7), _FONT, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    x = 0
    for image in thumbs:
        row[LABEL_HEIGHT : LABEL_HEIGHT + image.shape[0], x : x + image.shape[1]] = image
        x += image.shape[1] + GAP
    return row


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, GAP), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return np.concatenate(padded, axis=0)
