"""Per-frame content fingerprints: a 64-bit difference hash of each detection thumbnail.

Shot detection already decodes every frame at 48x27 (signals.THUMB_SIZE); each thumbnail is
averaged down to 9x8 luma blocks and every bit says whether a block is brighter than its right
neighbour (a "dHash"). Gradient signs survive re-encoding, rescaling and small level changes, so
the same material in another cut of the film hashes within a few bits, and no second decode is
needed. A shot stores its frames' hashes as one base64 string (8 bytes a frame: ~1.4 MB for a
170,000-frame feature). A match is only a candidate: reuse checks the real frames (tasks.reuse).
"""

from __future__ import annotations

import base64

import numpy as np

# Luma weights of BT.601 for BGR thumbnails (what the detection decode makes).
_BGR_LUMA = np.array([0.114, 0.587, 0.299], np.float32)
_COLS, _ROWS = 9, 8  # 8 gradients a row, 8 rows: 64 bits


def frame_hashes(bgr: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) uint8 BGR thumbnails -> (n,) uint64 difference hashes."""
    n, h, w = bgr.shape[:3]
    bw, bh = w // _COLS, h // _ROWS
    if not bw or not bh:
        raise ValueError(f"thumbnails of {w}x{h} are too small for a {_COLS}x{_ROWS} hash")
    luma = bgr[:, : bh * _ROWS, : bw * _COLS].astype(np.float32) @ _BGR_LUMA
    blocks = luma.reshape(n, _ROWS, bh, _COLS, bw).mean(axis=(2, 4))
    bits = (blocks[:, :, 1:] > blocks[:, :, :-1]).reshape(n, 64)
    weights = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
    hashes: np.ndarray = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return hashes


def encode(hashes: np.ndarray) -> str:
    """Hashes as base64 of little-endian uint64s: what the shot list stores."""
    return base64.b64encode(np.asarray(hashes, dtype="<u8").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) % 8:
        raise ValueError("a fingerprint is a whole number of 8-byte frame hashes")
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64)


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between every hash of `a` (rows) and every hash of `b` (columns)."""
    xor = np.bitwise_xor(a[:, None], b[None, :])
    counts: np.ndarray = np.bitwise_count(xor)
    return counts
