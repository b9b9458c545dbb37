"""`recast render` and `recast up` stopped by SIGINT, SIGTERM or SIGHUP (Ctrl-C, systemd or
Docker, a closing terminal) end within 15 s and leave no process behind.

Each command runs under a small wrapper that is a child subreaper: whatever the command leaves
(even a grandchild whose parent died first) is re-parented to the wrapper, which lists it. The
signal goes to the command's own PID only, as `kill PID` or systemd would send it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image
from skimage import data

from recast.samples import make_film, varied_shots

STOP_WITHIN = 15.0
WRAPPER = r"""
import ctypes, json, subprocess, sys, time
import psutil
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come here
with open(sys.argv[1], "ab") as log:
    proc = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
print(proc.pid, flush=True)
proc.wait()
time.sleep(1.0)  # what the command left has been re-parented by now
left = [p for p in psutil.Process().children(recursive=True) if p.status() != "zombie"]
names = [" ".join(p.cmdline())[:160] for p in left]
for p in left:
    p.kill()
print(json.dumps({"code": proc.returncode, "left": names}), flush=True)
"""
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


class Run:
    """The command under the wrapper: its PID, its output, and what it left."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        self.wrapper = subprocess.Popen(
            [sys.executable, "-c", WRAPPER, str(log), sys.executable, "-m", "recast.cli", *args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.wrapper.stdout is not None
        self.pid = int(self.wrapper.stdout.readline())

    def wait_until(self, ready: Callable[[list[str]], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            below = []
            for proc in psutil.Process(self.pid).children(recursive=True):
                try:
                    below.append(" ".join(proc.cmdline()))
                except psutil.Error:
                    continue
            if ready(below):
                return
            assert self.wrapper.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        pytest.fail(f"never {what} in {timeout:.0f}s: {self.log.read_text()[-3000:]}")

    def stop(self, signum: int) -> tuple[float, dict[str, object]]:
        """Signal the command; (seconds it took to exit, the wrapper's findings)."""
        started = time.monotonic()
        os.kill(self.pid, signum)
        command = psutil.Process(self.pid)
        while command.is_running() and command.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() - started > 60:
                break
            time.sleep(0.1)
        took = time.monotonic() - started
        out, _ = self.wrapper.communicate(timeout=60)
        return took, json.loads(out.strip().splitlines()[-1])


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "RECAST_HOME": str(home)}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("stops")
    film = make_film(tmp / "film.mp4", varied_shots([24, 24]), size=(320, 180))
    face = tmp / "face.png"
    Image.fromarray(data.astronaut()).save(face)
    camera = tmp / "camera.png"
    Image.fromarray(np.stack([data.camera()] * 3, -1)).save(camera)
    return {"film": film, "face": face, "camera": camera, "home": tmp / "home"}


def _render(inputs: dict[str, Path], tmp_path: Path) -> Run:
    args = ["render", str(inputs["film"]), "--face", f"{inputs['face']}:{inputs['camera']}"]
    args += ["--out", str(tmp_path / "out.mp4"), "--consent", "REL-1", "--quiet"]
    return Run(args, tmp_path / "recast.log", _env(inputs["home"]))


def _stopped_clean(run: Run, signum: int) -> None:
    took, found = run.stop(signum)
    assert found["left"] == [], found
    assert took < STOP_WITHIN, f"took {took:.1f}s"
    assert found["code"] == 128 + signum
    assert f"recast: stopped by {signal.Signals(signum).name}" in run.log.read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_a_render_stops_with_the_s3_server_it_started(
    inputs: dict[str, Path], tmp_path: Path, signum: int
) -> None:
    run = _render(inputs, tmp_path)
    run.wait_until(lambda below: any("moto" in c for c in below), "S3 up", timeout=120)
    _stopped_clean(run, signum)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("command", "signum"),
    [("render", signal.SIGTERM), *(("up", s) for s in SIGNALS)],
    ids=["render-SIGTERM", "up-SIGINT", "up-SIGTERM", "up-SIGHUP"],
)
def test_everything_started_is_stopped(
    inputs: dict[str, Path], tmp_path: Path, command: str, signum: int
) -> None:
    """A render stopped while Airflow runs a stage (Airflow's task runner takes SIGTERM for
    itself: the supervisor must not rely on it); `recast up` all the way up (SIGTERM, and a
    second `recast up` refused meanwhile) or mid-start (SIGINT, SIGHUP)."""
    if command == "render":
        run = _render(inputs, tmp_path)
        run.wait_until(
            lambda below: any("moto" in c for c in below) and any("-m tasks" in c for c in below),
            "a stage running",
            timeout=240,
        )
        _stopped_clean(run, signum)
        return
    home = tmp_path / "home"
    run = Run(["up", "--port", str(_free_port())], tmp_path / "up.log", _env(home))
    if signum == signal.SIGTERM:
        deadline = time.monotonic() + 240
        while "Recast UI" not in run.log.read_text():
            assert time.monotonic() < deadline and run.wrapper.poll() is None, run.log.read_text()
            time.sleep(0.5)
        second = subprocess.run(
            [sys.executable, "-m", "recast.cli", "up", "--port", str(_free_port())],
            capture_output=True,
            text=True,
            env=_env(home),
            timeout=60,
        )
        assert second.returncode == 1
        assert (
            second.stderr.strip()
            .splitlines()[-1]
            .startswith("recast: recast up is already running (PID ")
        ), second.stderr
    else:
        run.wait_until(
            lambda below: sum("airflow" in c for c in below) >= 4, "Airflow starting", 240
        )
    _stopped_clean(run, signum)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
