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

from recast import airflow_env
from recast.s3server import embedded_s3
from tasks.layout import delivery_prefix

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


def _check_local(path: Path, what: str) -> None:
    if not path.is_file():
        raise RenderFailed(f"{what} not found: {path}")


def _upload_inputs(client: Any, film: Path, faces: list[FaceArg]) -> dict[str, Any]:
    client.create_bucket(Bucket=BUCKET)
    asset_key = f"inputs/{film.name}"
    client.upload_file(str(film), BUCKET, asset_key)
    mappings = []
    for i, face in enumerate(faces, start=1):
        key = f"faces/{i}-source{face.source.suffix}"
        client.upload_file(str(face.source), BUCKET, key)
        mapping = {"source": f"s3://{BUCKET}/{key}"}
        if face.reference:
            ref_key = f"faces/{i}-reference{face.reference.suffix}"
            client.upload_file(str(face.reference), BUCKET, ref_key)
            mapping["reference"] = f"s3://{BUCKET}/{ref_key}"
        mappings.append(mapping)
    return {"asset": f"s3://{BUCKET}/{asset_key}", "faces": mappings}


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
        "provenance": out.with_name(f"{out.stem}_provenance.json"),
        "timeline": out.with_name(f"{out.stem}_timeline.otio"),
        "edl": out.with_name(f"{out.stem}_timeline.edl"),
    }
    files = {name: path for name, path in wanted.items() if result.get(name)}
    for name, path in files.items():
        bucket, _, key = result[name][5:].partition("/")
        tmp = path.with_name(f".{path.name}.part")
        client.download_file(bucket, key, str(tmp))
        tmp.replace(path)
    return files


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
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Render `film` through the DAG; returns the published report and the local files.

    With `log_file`, Airflow's and the stages' logs go there instead of the terminal.
    """
    _check_local(film, "input film")
    for i, face in enumerate(faces, start=1):
        _check_local(face.source, f"face source {i}")
        if face.reference:
            _check_local(face.reference, f"face reference {i}")
    with embedded_s3() as s3:
        home = home or airflow_env.default_home()
        airflow_env.prepare(
            home,
            {**s3.env(), "RECAST_WORK_URI": f"s3://{BUCKET}", **_signing_env(home)},
        )
        import boto3

        client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        conf = {**_upload_inputs(client, film, faces), "restore": restore, **(extra_conf or {})}
        with _output_to(log_file):
            dag = _load_dag()
            dag_run = dag.test(run_conf=conf)
        if dag_run.state != "success":
            where = f" (log: {log_file})" if log_file else ""
            raise RenderFailed(_failure_reason(dag_run) + where)
        destination = delivery_prefix(
            f"s3://{BUCKET}", conf.get("output_prefix", "renders"), conf["asset"], dag_run.run_id
        )
        bucket, _, key = f"{destination}/report.json"[5:].partition("/")
        report = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        report["report"] = f"{destination}/report.json"
        return report, _fetch_outputs(client, report, out)
