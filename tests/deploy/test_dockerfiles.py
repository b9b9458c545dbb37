"""images/*/Dockerfile: parsed, non-root, and built from what the issue asks for."""

from __future__ import annotations

from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {name: ROOT / "images" / name / "Dockerfile" for name in ("worker", "airflow")}


def _parse(name: str) -> DockerfileParser:
    parser = DockerfileParser(fileobj=DOCKERFILES[name].open("rb"))
    assert parser.structure, f"{name}: nothing parsed"
    return parser


def _final_stage(parser: DockerfileParser) -> list[dict[str, str]]:
    start = max(i for i, ins in enumerate(parser.structure) if ins["instruction"] == "FROM")
    return parser.structure[start:]


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_the_image_runs_as_a_non_root_user(name: str) -> None:
    users = [i["value"] for i in _final_stage(_parse(name)) if i["instruction"] == "USER"]
    assert users, f"{name}: no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"{name} runs as {user}"


def test_worker_is_cuda_with_the_gpu_runtimes_and_the_tasks_package() -> None:
    parser = _parse("worker")
    assert parser.baseimage.startswith("nvidia/cuda:") and "-runtime-" in parser.baseimage
    text = DOCKERFILES["worker"].read_text()
    assert "onnxruntime-gpu==${ONNXRUNTIME_GPU}" in text and "torch==${TORCH}" in text
    copies = [i["value"] for i in parser.structure if i["instruction"] == "COPY"]
    assert any(c.startswith("tasks ") for c in copies)
    final = _final_stage(parser)
    assert [i["value"] for i in final if i["instruction"] == "USER"][-1] == "10001:10001"
    volumes = " ".join(i["value"] for i in final if i["instruction"] == "VOLUME")
    assert "/models" in volumes and "/scratch" in volumes
    entry = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    assert entry == ['["python", "-m", "tasks"]']


def test_worker_user_is_the_one_the_pods_ask_for() -> None:
    from recast_airflow.kubernetes_backend import RUN_AS

    final = _final_stage(_parse("worker"))
    assert [i["value"] for i in final if i["instruction"] == "USER"][-1] == f"{RUN_AS}:{RUN_AS}"


def test_airflow_image_is_the_official_one_with_dags_and_plugins() -> None:
    parser = _parse("airflow")
    assert parser.baseimage.startswith("apache/airflow:3.3.2")
    text = DOCKERFILES["airflow"].read_text()
    assert "apache-airflow-providers-cncf-kubernetes" in text
    assert "apache-airflow-providers-amazon" in text
    copies = [i["value"] for i in parser.structure if i["instruction"] == "COPY"]
    assert any("dags /opt/airflow/dags" in c for c in copies)
    assert any("plugins /opt/airflow/plugins" in c for c in copies)
