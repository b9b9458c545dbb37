"""Hostile and broken assets: each refused by the probe stage, early, with a clear reason.

The probe runs exactly as a pod runs it (`python -m tasks probe`), on files a vendor could send.
FFmpeg must stay within the containers and protocols Recast allows: a playlist, a concat list
or an image pattern must never make it read another local file or reach the network.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from recast.samples import make_film, varied_shots

H264 = ("-c:v", "libx264", "-pix_fmt", "yuv420p")


@pytest.fixture(scope="module")
def good_film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_film(
        tmp_path_factory.mktemp("good") / "good.mp4", varied_shots([6, 6]), size=(160, 90)
    )


@pytest.fixture
def canary() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that records any request: FFmpeg must never call it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()


def _probe(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tasks", "probe", str(path), "--out", str(tmp_path / "p.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )


# Words of the libraries underneath, which a refusal must translate (issue 16).
LIBRARY_WORDS = ("validation error", "pydantic", "Traceback", "Errno", "Value error")
LIBRARY_WORDS += ("Invalid data", "Invalid argument")


def _refused(proc: subprocess.CompletedProcess[str], tmp_path: Path, *words: str) -> str:
    """The one-line refusal: names the file as the user gave it, in Recast's words."""
    assert proc.returncode == 2, proc.stderr[-1500:]
    reason = proc.stderr.strip().splitlines()[-1]
    assert reason.startswith("recast: refused:"), reason
    given = proc.args[4]
    assert given in reason, f"{reason!r} does not name {given!r}"
    assert not [w for w in LIBRARY_WORDS if w.lower() in reason.lower()], reason
    assert "/tmp/recast-" not in reason, reason  # no scratch copy
    for word in words:
        assert word.lower() in reason.lower(), reason
    assert not (tmp_path / "p.json").exists()
    return reason


def _lavfi(source: str, out: Path, *options: str) -> Path:
    """A file made by FFmpeg's own test sources."""
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, *options, str(out)]
    subprocess.run(cmd, check=True)
    return out


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    _refused(_probe(empty, tmp_path), tmp_path, "empty")


def test_truncated_mp4(good_film: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good_film.read_bytes()[: good_film.stat().st_size // 3])
    _refused(_probe(cut, tmp_path), tmp_path)


def test_text_named_mp4(tmp_path: Path) -> None:
    _refused(_probe(_write(tmp_path / "notes.mp4", "not a film\n" * 50), tmp_path), tmp_path)


def test_audio_only_file(tmp_path: Path) -> None:
    audio = _lavfi("sine=f=440:d=1", tmp_path / "audio.mp4", "-c:a", "aac")
    _refused(_probe(audio, tmp_path), tmp_path, "video")


def test_resolution_above_the_cap(tmp_path: Path) -> None:
    big = _lavfi("color=c=gray:s=4160x128:d=0.2:r=5", tmp_path / "big.mp4", *H264)
    _refused(_probe(big, tmp_path), tmp_path, "4160x128")


def test_absurd_frame_rate(tmp_path: Path) -> None:
    fast = _lavfi("color=c=gray:s=64x64:d=0.1:r=1000", tmp_path / "fast.mp4", *H264)
    reason = _refused(_probe(fast, tmp_path), tmp_path)
    assert reason == (
        f"recast: refused: {fast}: frame rate 1000 fps is outside the 1..240 fps Recast renders"
    )


@pytest.mark.parametrize("name", ["playlist.m3u8", "playlist.mp4"])
def test_hls_playlist_pointing_at_local_files_and_urls(
    tmp_path: Path, good_film: Path, canary: tuple[str, list[str]], name: str
) -> None:
    url, hits = canary
    playlist = _write(
        tmp_path / name,
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n"
        f"{good_film}\n#EXTINF:1.0,\n{url}/leak.ts\n#EXT-X-ENDLIST\n",
    )
    _refused(_probe(playlist, tmp_path), tmp_path)
    assert hits == []


def test_a_playlist_never_opens_the_local_file_it_names(tmp_path: Path) -> None:
    # A FIFO blocks whoever opens it: if FFmpeg followed the playlist, the probe would hang.
    fifo = tmp_path / "segment.ts"
    os.mkfifo(fifo)
    playlist = _write(
        tmp_path / "innocent.mp4",
        f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{fifo}\n#EXT-X-ENDLIST\n",
    )
    _refused(_probe(playlist, tmp_path), tmp_path, "supported container")


def test_ffconcat_list_pointing_at_local_files(tmp_path: Path, good_film: Path) -> None:
    listing = _write(tmp_path / "list.mp4", f"ffconcat version 1.0\nfile '{good_film}'\n")
    _refused(_probe(listing, tmp_path), tmp_path)


def test_image_sequence_pattern(tmp_path: Path) -> None:
    for i in range(3):
        _lavfi("color=c=red:s=32x32:d=0.04", tmp_path / f"img{i:03d}.png", "-frames:v", "1")
    _refused(_probe(tmp_path / "img%03d.png", tmp_path), tmp_path)


def test_a_good_film_passes(good_film: Path, tmp_path: Path) -> None:
    proc = _probe(good_film, tmp_path)
    assert proc.returncode == 0, proc.stderr[-1500:]
