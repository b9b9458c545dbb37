"""Shared fixtures: a real S3 API over HTTP (moto's server on loopback) for the whole session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Airflow reads its configuration once, at import: point it at a private home first."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="recast-test-airflow-"))
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home}/airflow.db")
    os.environ.setdefault("RECAST_HOME", str(home / "recast"))


@pytest.fixture(scope="module")
def stack(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real `airflow standalone` with the embedded S3 server, shared by the whole session."""
    from recast.up import shared_stack

    return shared_stack(pytestconfig, tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from recast.s3server import embedded_s3

    with embedded_s3() as server:
        saved = {k: os.environ.get(k) for k in server.env()}
        os.environ.update(server.env())
        from tasks import storage

        storage.client.cache_clear()
        try:
            yield server.endpoint
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            storage.client.cache_clear()


@pytest.fixture
def bucket(s3_server: str) -> str:
    """A fresh bucket per test, so tests never see each other's objects."""
    from tasks import storage

    name = f"t-{uuid.uuid4().hex[:12]}"
    storage.client().create_bucket(Bucket=name)
    return name
