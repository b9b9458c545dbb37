"""`recast render` on a laptop: the real recast_render DAG, the local backend, embedded S3."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recast import airflow_env, workarea
from recast.s3server import embedded_s3
from tasks.layout import delivery_prefix
from tasks.progress import PROGRESS_ENV
from tasks.spec import RenderSpec, SpecError

BUCKET = "recast"
log = logging.getLogger(__name__)


class RenderFailed(RuntimeError):
    """A render that did not publish, with the one-line reason."""


@dataclass(frozen=True)
class FaceArg:
    source: Path
    reference: Path | None = None

    @classmethod
    def parse(cls, text: str) -> FaceArg:
        source, _, reference = text.partition(":")
        return cls(Path(source), Path(reference) if reference else None)

    def mapping(self) -> dict[str, str]:
        """As a spec's face mapping (local paths)."""
        found = {"source": str(self.source)}
        return found | ({"reference": str(self.reference)} if self.reference else {})


def _check_local(path: Path, what: str) -> None:
    if not path.is_file():
        raise RenderFailed(f"{what} not found: {path}")


def local_inputs(conf: Any) -> list[tuple[str, str]]:
    """(what, path) of each file named in raw settings, valid or not (as RenderSpec.inputs)."""
    if not isinstance(conf, dict):
        return []
    found = [("input film", conf["asset"])] if isinstance(conf.get("asset"), str) else []
    faces = conf.get("faces")
    for i, face in enumerate(faces if isinstance(faces, list) else [], start=1):
        for part in ("source", "reference"):
            if isinstance(face, dict) and isinstance(face.get(part), str):
                found.append((f"face {part} {i}", face[part]))
    return found


def local_problems(conf: dict[str, Any], skip: set[str] | None = None) -> list[str]:
    """What stops a laptop render before anything starts: each input that is not a local file,
    and each face file that is not an image, named as the user gave it (`skip`: paths already
    refused)."""
    from tasks.faces.images import load_image

    problems = []
    for what, path in local_inputs(conf):
        if path in (skip or set()):
            continue
        if "://" in path:
            problems.append(f"{what} {path}: recast render reads local files")
        elif not Path(path).is_file():
            problems.append(f"{what} not found: {path}")
        elif what.startswith("face"):
            try:
                load_image(path)
            except SpecError:
                problems.append(f"{what} {path}: not an image (PNG, JPEG, WebP, ...)")
    return problems


def _upload_inputs(client: Any, spec: RenderSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """The spec as conf, its local files uploaded; and each upload's URI -> the user's path."""
    client.create_bucket(Bucket=BUCKET)
    names: dict[str, str] = {}

    def put(path: str, key: str) -> str:
        client.upload_file(path, BUCKET, key)
        names[f"s3://{BUCKET}/{key}"] = path
        return f"s3://{BUCKET}/{key}"

    conf = spec.model_dump(mode="json")
    conf["asset"] = put(spec.asset, f"inputs/{Path(spec.asset).name}")
    for i, face in enumerate(conf["faces"], start=1):
        for part in ("source", "reference"):
            if face.get(part):
                face[part] = put(face[part], f"faces/{i}-{part}{Path(face[part]).suffix}")
    return conf, names


def _in_user_words(reason: str, names: dict[str, str]) -> str:
    """A stage names the uploaded copy (s3://recast/faces/1-source.png): say the user's path."""
    for uri, path in sorted(names.items(), key=lambda item: -len(item[0])):
        reason = reason.replace(uri, path)
    return reason


def _upload_overrides(client: Any, conf: dict[str, Any]) -> dict[str, Any]:
    """Local face images of shot overrides, uploaded like the render's own."""
    overrides = []
    for o in conf.get("shot_overrides", []):
        faces = []
        for i, face in enumerate(o.get("faces") or [], start=1):
            mapping = {k: v for k, v in face.items() if v is not None}
            for role in ("source", "reference"):
                path = face.get(role)
                if path and not str(path).startswith("s3://"):
                    _check_local(Path(path), f"shot {o['shot']} face {role} {i}")
                    key = f"faces/shot{o['shot']}-{i}-{role}{Path(path).suffix}"
                    client.upload_file(str(path), BUCKET, key)
                    path = f"s3://{BUCKET}/{key}"
                if path:
                    mapping[role] = path
            faces.append(mapping)
        overrides.append({**o, "faces": faces} if faces else o)
    return {**conf, "shot_overrides": overrides} if overrides else conf


def _signing_env(home: Path) -> dict[str, str]:
    """The studio's C2PA identity when configured; else a local development one (untrusted)."""
    if os.environ.get("RECAST_C2PA_CERT") and os.environ.get("RECAST_C2PA_KEY"):
        return {}
    from tasks.provenance.identity import development_env

    return development_env(home / "c2pa-development")


def _load_dag() -> Any:
    path = airflow_env.DAGS / "recast_render.py"
    spec = importlib.util.spec_from_file_location("recast_render_dag", path)
    if spec is None or spec.loader is None:
        raise RenderFailed(f"cannot load the DAG file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _failure_reason(dag_run: Any) -> str:
    from recast_airflow.failures import last_failure

    failure = last_failure(dag_run.run_id)
    if failure:
        return failure
    failed = [ti.task_id for ti in dag_run.get_task_instances() if ti.state == "failed"]
    return f"task {', '.join(failed) or '?'} failed (see the log above)"


def _fetch_outputs(client: Any, result: dict[str, Any], out: Path) -> dict[str, Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    wanted = {
        "film": out,
        "contact_sheet": out.with_name(f"{out.stem}_contact_sheet.jpg"),  # its first page
        "report": out.with_name(f"{out.stem}_report.json"),
        "qc_report": out.with_name(f"{out.stem}_qc.html"),
        "qc": out.with_name(f"{out.stem}_qc.json"),
        "provenance": out.with_name(f"{out.stem}_provenance.json"),
        "timeline": out.with_name(f"{out.stem}_timeline.otio"),
        "edl": out.with_name(f"{out.stem}_conform.edl"),
        "master": out.with_name(f"{out.stem}_master.mov"),
        "shot_clips": out.with_name(f"{out.stem}_shots.json"),
    }
    files = {name: path for name, path in wanted.items() if result.get(name)}
    for name, path in files.items():
        _download(client, result[name], path)
    if "shot_clips" in files:  # the `shots` delivery: its files beside, as published
        base = result["shot_clips"].rsplit("/", 1)[0]
        for relative in json.loads(files["shot_clips"].read_text())["files"]:
            _download(client, f"{base}/{relative}", out.with_name(f"{out.stem}_{relative}"))
        files["shots"] = out.with_name(f"{out.stem}_shots")
    return files


def _download(client: Any, uri: str, path: Path) -> None:
    bucket, _, key = uri[5:].partition("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    client.download_file(bucket, key, str(tmp))
    tmp.replace(path)


@contextmanager
def _output_to(log_file: Path | None) -> Iterator[None]:
    """Send this process's stdout/stderr (Airflow's and the stages' logs) to `log_file`."""
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_file.open("ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def render(
    film: Path,
    faces: list[FaceArg],
    out: Path,
    *,
    restore: str = "none",
    home: Path | None = None,
    extra_conf: dict[str, Any] | None = None,
    log_file: Path | None = None,
    progress: Any = None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Render `film` with `faces` (the demo's and the benchmarks' way in): see render_spec."""
    _check_local(film, "input film")
    mappings = []
    for i, face in enumerate(faces, start=1):
        _check_local(face.source, f"face source {i}")
        mapping = {"source": str(face.source)}
        if face.reference:
            _check_local(face.reference, f"face reference {i}")
            mapping["reference"] = str(face.reference)
        mappings.append(mapping)
    conf = {"asset": str(film), "faces": mappings, "restore": restore, **(extra_conf or {})}
    return render_spec(RenderSpec.parse(conf), out, home=home, log_file=log_file, progress=progress)


def render_spec(
    spec: RenderSpec,
    out: Path,
    *,
    home: Path | None = None,
    log_file: Path | None = None,
    progress: Any = None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Render a spec whose inputs are local files through the DAG; returns the published
    report and the local files.

    With `log_file`, Airflow's and the stages' logs go there instead of the terminal.
    `progress`: a context manager factory taking the events file (recast.progress.live).
    """
    problems = local_problems(spec.model_dump())
    if problems:
        raise RenderFailed("; ".join(problems))
    with embedded_s3() as s3:
        home = home or airflow_env.default_home()
        kept = home.parent  # RECAST_HOME: the work area lives beside Airflow's home
        # The unit cache (and reuse index) is a folder that outlives the in-memory server.
        cache = os.environ.get("RECAST_UNIT_CACHE") or str(workarea.cache_dir(kept))
        airflow_env.prepare(
            home,
            {
                **s3.env(),
                "RECAST_WORK_URI": f"s3://{BUCKET}",
                "RECAST_UNIT_CACHE": cache,
                **_signing_env(home),
            },
        )
        import boto3

        client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        conf, names = _upload_inputs(client, spec)
        conf = _upload_overrides(client, conf)
        if conf.get("base_run"):  # a scoped re-render reads its base from the work area
            workarea.restore_run(client, BUCKET, conf["base_run"], kept)
        with _watching(progress, home), _output_to(log_file):
            dag = _load_dag()
            dag_run = dag.test(run_conf=conf)
        if dag_run.state != "success":
            where = f" (log: {log_file})" if log_file else ""
            raise RenderFailed(_in_user_words(_failure_reason(dag_run), names) + where)
        workarea.save_run(client, BUCKET, dag_run.run_id, kept)
        destination = delivery_prefix(
            f"s3://{BUCKET}", conf.get("output_prefix", "renders"), conf["asset"], dag_run.run_id
        )
        bucket, _, key = f"{destination}/report.json"[5:].partition("/")
        report = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        report["report"] = f"{destination}/report.json"
        return report, _fetch_outputs(client, report, out)


@contextmanager
def _watching(progress: Any, home: Path) -> Iterator[None]:
    """Stages append progress events to RECAST_PROGRESS_FILE; `progress` shows them."""
    if progress is None:
        yield
        return
    events = home / f"progress-{os.getpid()}.jsonl"
    events.unlink(missing_ok=True)
    os.environ[PROGRESS_ENV] = str(events)
    try:
        with progress(events):
            yield
    finally:
        os.environ.pop(PROGRESS_ENV, None)
        events.unlink(missing_ok=True)
