"""A swap pod SIGKILLed in the middle of a real render: Airflow retries the unit and the film is
the one an undisturbed render makes (`recast render`: the real DAG, local backend, S3 server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recast.samples import make_film, varied_shots
from tasks.media.frames import read_frames

pytestmark = pytest.mark.e2e


def _descendants(root: int) -> dict[int, list[str]]:
    """Live processes under `root`, by pid, with their command lines (from /proc)."""
    parents: dict[int, int] = {}
    commands: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = commands.get(pid, [])
                frontier.append(pid)
    return found


def _kill_first_swap(render: subprocess.Popen[str], scratch: Path, killed: list[int]) -> None:
    """Once the swap pod's output is half-written in its scratch, SIGKILL that pod's process."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and render.poll() is None:
        if any(p.stat().st_size > 0 for p in scratch.glob("recast-swap-*/swapped.mkv")):
            for pid, argv in _descendants(render.pid).items():
                if argv[1:4] == ["-m", "tasks", "swap"]:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
        time.sleep(0.02)


def _render(tmp: Path, film: Path, face: Path, name: str, kill: bool) -> tuple[Path, list[int]]:
    scratch = tmp / f"scratch-{name}"
    scratch.mkdir()
    out = tmp / name / "out.mp4"
    env = {
        **os.environ,
        "RECAST_HOME": str(tmp / f"home-{name}"),
        "RECAST_TASK_RETRIES": "1",
        "RECAST_SCRATCH": str(scratch),
    }
    command = [sys.executable, "-m", "recast.cli", "render", str(film), "--face", str(face)]
    command += ["--out", str(out), "--consent", "REL-2026-0001"]
    killed: list[int] = []
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as render:
        watcher = threading.Thread(target=_kill_first_swap, args=(render, scratch, killed))
        if kill:
            watcher.start()
        log, _ = render.communicate(timeout=900)
        if kill:
            watcher.join()
    assert render.returncode == 0, log[-4000:]
    return out, killed


def test_a_killed_swap_pod_is_retried_and_the_film_is_unchanged(tmp_path: Path) -> None:
    from skimage import data

    film = make_film(tmp_path / "film.mp4", varied_shots([30, 12]), size=(256, 144))
    face = tmp_path / "camera.png"
    Image.fromarray(data.camera()).convert("RGB").save(face)

    undisturbed, _ = _render(tmp_path, film, face, "undisturbed", kill=False)
    retried, killed = _render(tmp_path, film, face, "killed", kill=True)
    assert len(killed) == 1, "the swap pod was never killed"

    a, b = list(read_frames(undisturbed)), list(read_frames(retried))
    assert len(a) == len(b) == 42
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
