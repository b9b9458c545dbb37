"""bench/feature.py's memory figure: each stage's own peak RSS, not the bench's."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from bench.feature import _LAUNCH

MiB = 2**20


def _peak(tmp_path: Path, code: str) -> tuple[int, int]:
    """Run `python -c CODE` under the launcher: its exit status and peak RSS in bytes."""
    rss = tmp_path / "peak.rss"
    done = subprocess.run([sys.executable, "-c", _LAUNCH, str(rss), sys.executable, "-c", code])
    return done.returncode, int(rss.read_text()) * 1024


def test_a_stage_reads_its_own_peak_not_the_bench_memory_it_was_started_from(
    tmp_path: Path,
) -> None:
    held = bytearray(256 * MiB)  # the bench, grown big before it starts a stage
    held[::4096] = b"x" * len(held[::4096])
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 > 256 * MiB
    status, small = _peak(tmp_path, "pass")
    assert status == 0 and small < 64 * MiB
    grow = "b = bytearray(160 * 2**20)\nb[::4096] = b'x' * len(b[::4096])"
    status, large = _peak(tmp_path, grow)
    assert status == 0 and 160 * MiB < large < 160 * MiB + small + 16 * MiB
    assert _peak(tmp_path, "import sys; sys.exit(3)")[0] == 3  # a failed stage stays failed
    del held
