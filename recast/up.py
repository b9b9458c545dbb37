"""`recast up`: the Airflow UI on this machine, with the embedded S3 server and the demo inputs.

`airflow standalone` (scheduler, dag-processor, triggerer, api-server, LocalExecutor, SQLite)
listens on 127.0.0.1 only. The login is the simple auth manager's `admin`, with a password kept
in `<home>/passwords.json` so it stays the same from one `recast up` to the next. The same stack
runs the browser and end-to-end tests (`shared_stack`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from recast import airflow_env, stops
from recast.s3server import S3Server, embedded_s3

BUCKET = "recast"
USER = "admin"
LOCAL_POOL_SLOTS = 2  # a laptop runs at most two units of a tier at once


@dataclass
class Stack:
    url: str
    username: str
    password: str
    home: Path
    s3: S3Server
    env: dict[str, str]
    _token: str | None = field(default=None, repr=False)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API (`/api/v2/...`) as the admin user."""
        if self._token is None:
            token = _request("POST", f"{self.url}/auth/token", self._login_body())
            self._token = token["access_token"]
        headers = {"Authorization": f"Bearer {self._token}"}
        return _request(method, f"{self.url}{path}", body, headers)

    def s3_client(self) -> Any:
        """A boto3 client for the stack's embedded S3 server, with its credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3.endpoint,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
        )

    def _login_body(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def ensure_pools(self) -> None:
        """One pool per tier (tasks in a missing pool never start), at laptop size."""
        from recast_airflow.config import Settings
        from recast_airflow.pools import pool_table
        from recast_airflow.tiers import load_tiers

        tiers = load_tiers(Settings.from_env().tiers_file)
        for name, pool in pool_table(tiers, LOCAL_POOL_SLOTS).items():
            try:
                self.api("POST", "/api/v2/pools", {"name": name, **pool})
            except urllib.error.HTTPError as exc:
                if exc.code != 409:
                    raise
                self.api("PATCH", f"/api/v2/pools/{name}", {"name": name, **pool})

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        """Until the dag-processor has parsed it, then unpause it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.api(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}}
        )
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> str:
        """The final state of a run (success or failed)."""
        deadline = time.monotonic() + timeout
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
        while time.monotonic() < deadline:
            state = str(self.api("GET", path)["state"])
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id} {run_id} still running after {timeout:.0f}s")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
        return runs


def _request(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _secret(path: Path, make: Any) -> Any:
    """Generated once, then read back: the login survives restarts."""
    if not path.exists():
        path.write_text(json.dumps(make()))
        path.chmod(0o600)
    return json.loads(path.read_text())


def stack_env(home: Path, port: int, s3: S3Server) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    passwords = home / "passwords.json"
    _secret(passwords, lambda: {USER: secrets.token_urlsafe(12)})
    keys = _secret(
        home / "secrets.json", lambda: {k: secrets.token_hex(32) for k in ("jwt", "api")}
    )
    return {
        **os.environ,
        **airflow_env.airflow_env(home),
        **s3.env(),
        "RECAST_WORK_URI": f"s3://{BUCKET}",
        # standalone starts its components as `airflow ...`: this interpreter's.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        # Every component must sign and check the same tokens.
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt"],
        "AIRFLOW__API__SECRET_KEY": keys["api"],
        "AIRFLOW__CORE__PARALLELISM": "4",  # ~0.8 GB instead of ~4.7 GB on 2 cores
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }


def upload_demo_inputs(s3: S3Server, folder: Path, *, small: bool = False) -> dict[str, str]:
    """The demo film and faces, under the URIs the render form offers by default."""
    import boto3

    from recast.samples import demo_shots, make_film, varied_shots

    folder.mkdir(parents=True, exist_ok=True)
    film = folder / ("demo_small.mp4" if small else "demo.mp4")
    if not film.exists():
        shots, size = (varied_shots([12, 12]), (320, 180)) if small else (demo_shots(), (640, 360))
        make_film(film.with_suffix(".part.mp4"), shots, size=size).replace(film)
    source, reference = _demo_faces(folder)
    client = boto3.client("s3", endpoint_url=s3.endpoint, **_credentials(s3))
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    keys = {"inputs/demo.mp4": film, "faces/source.png": source, "faces/reference.png": reference}
    for key, path in keys.items():
        client.upload_file(str(path), BUCKET, key)
    return {key: f"s3://{BUCKET}/{key}" for key in keys}


def _demo_faces(folder: Path) -> tuple[Path, Path]:
    """The demo's faces: the astronaut's face goes onto the cameraman (see recast.demo)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    paths = folder / "source.png", folder / "reference.png"
    for path, image in zip(paths, (data.astronaut(), data.camera()), strict=True):
        if not path.exists():
            rgb = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image
            Image.fromarray(rgb).save(path)
    return paths


def _credentials(s3: S3Server) -> dict[str, str]:
    env = s3.env()
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with {proc.returncode}")
        try:
            health = _request("GET", f"{url}/api/v2/monitor/health")
            if all(
                (health.get(part) or {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            ):
                return
        except (OSError, ValueError):
            pass
        time.sleep(1)
    raise RuntimeError(f"Airflow did not become healthy on {url} in {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes], grace: float = 6.0) -> None:
    """SIGTERM to standalone's main PID only (a signal to its whole group hangs an idle
    LocalExecutor worker), a few seconds to stop its components, then SIGTERM and SIGKILL
    for whatever of its tree is left."""
    tree = stops.descendants(proc.pid)  # now: a component may outlive its parent
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    left = {p.pid: p for p in [*tree, *stops.descendants(proc.pid)]}
    if proc.poll() is None:
        left[proc.pid] = psutil.Process(proc.pid)
    stops.end(left.values(), grace=2.0)
    proc.wait()


@contextmanager
def airflow_stack(
    home: Path,
    *,
    port: int | None = None,
    small_demo: bool = False,
    extra_env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[Stack]:
    """Airflow standalone + embedded S3 + demo inputs + tier pools; stopped on exit."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    with embedded_s3() as s3:
        env = {**stack_env(home, port, s3), **(extra_env or {})}
        upload_demo_inputs(s3, home / "demo", small=small_demo)
        log_path = log or home / "standalone.log"
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", "standalone"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc, timeout=180)
            password = json.loads((home / "passwords.json").read_text())[USER]
            stack = Stack(url, USER, password, home, s3, env)
            stack.ensure_pools()
            yield stack
        finally:
            _stop(proc)


def shared_stack(config: Any, home: Path) -> Stack:
    """One stack per pytest session, whichever test module asks first (pytest's `config`).

    A small demo film, and no scheduled polls or batches: tests trigger what they test.
    """
    stack: Stack | None = getattr(config, "_recast_stack", None)
    if stack is None:
        manual = {"RECAST_DROP_SCHEDULE": "none", "RECAST_BATCH_SCHEDULE": "none"}
        cm = airflow_stack(home, small_demo=True, extra_env=manual)
        stack = cm.__enter__()
        config.add_cleanup(lambda: cm.__exit__(None, None, None))
        config._recast_stack = stack
    return stack


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def monitoring_env(home: Path, on: bool) -> Iterator[dict[str, str]]:
    """`--monitoring`: Prometheus and a Pushgateway for the stack's stages, their URLs printed;
    the environment that sends every stage's metrics there."""
    if not on:
        yield {}
        return
    from recast.monitoring import monitoring

    with monitoring(home / "monitoring") as mon:
        print(f"Prometheus   {mon.prometheus}   (alert rules loaded; logs in {home}/monitoring)")
        print(f"Pushgateway  {mon.pushgateway}   (every stage pushes its metrics here)")
        yield mon.env()


@contextmanager
def _only_one(home: Path) -> Iterator[None]:
    """One `recast up` per home: a second one says where the first is, instead of fighting
    over ports. The lock (flock) goes with the process, however it ends."""
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    with (home / "up.lock").open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            raise RuntimeError(
                f"recast up is already running ({owner}); stop it first (Ctrl-C in its "
                "terminal, or kill its PID)"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"PID {os.getpid()}, home {home}")
        fh.flush()
        yield


def up(home: Path, port: int, *, monitoring: bool = False) -> int:
    """`recast up`: start the stack, print how to reach it, run until Ctrl-C or a stop signal;
    with `monitoring`, Prometheus and a Pushgateway beside it."""
    with _only_one(home):
        if not _port_free(port):
            raise RuntimeError(f"port {port} is taken on 127.0.0.1: try `recast up --port N`")
        print(f"recast up: starting Airflow and the S3 server (logs: {home / 'standalone.log'})")
        try:
            with (
                monitoring_env(home, monitoring) as extra,
                airflow_stack(home, port=port, extra_env=extra) as stack,
            ):
                stack.wait_for_dag("recast_render")
                _print_ready(stack, home)
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            print("recast up: stopped", flush=True)
    return 0


def _print_ready(stack: Stack, home: Path) -> None:
    s3 = stack.s3.env()
    lines = [
        f"Recast UI    {stack.url}",
        f"login        {stack.username} / {stack.password}   (kept in {home}/passwords.json)",
        f"S3 endpoint  {stack.s3.endpoint}   bucket '{BUCKET}', demo inputs uploaded;"
        f" keys {s3['AWS_ACCESS_KEY_ID']} / {s3['AWS_SECRET_ACCESS_KEY']}",
        "Trigger recast_render from its form. recast_dropfolder and recast_batch start",
        "paused: unpause them to poll s3://recast/dropfolder/incoming/ or run a manifest.",
        "Ctrl-C (or SIGTERM) stops everything.",
    ]
    print("\n".join(lines), flush=True)
