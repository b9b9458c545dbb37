"""Reading face source and reference images as RGB uint8 arrays."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from tasks.spec import SpecError


def load_image(path: str | Path) -> npt.NDArray[np.uint8]:
    """An image file as RGB uint8 HxWx3 (greyscale expanded, alpha dropped, EXIF applied)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise SpecError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    # imdecode rather than imread: imread fails silently and mangles non-ASCII paths.
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise SpecError(f"{path} is not an image OpenCV can decode")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
