"""A private Airflow home for laptop renders: SQLite metadata, this checkout's DAGs and plugins.

Everything here must run before `airflow` is first imported: Airflow reads its configuration
from the environment once, at import.
"""

from __future__ import annotations

import os
from pathlib import Path

from recast_airflow.airflow_cli import airflow_cli

ROOT = Path(__file__).resolve().parents[1]
DAGS = Path(os.environ.get("RECAST_DAGS_FOLDER", ROOT / "dags"))
PLUGINS = Path(os.environ.get("RECAST_PLUGINS_FOLDER", ROOT / "plugins"))


def default_home() -> Path:
    return Path(os.environ.get("RECAST_HOME", Path.home() / ".cache" / "recast")) / "airflow"


def airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("RECAST_AIRFLOW_LOG_LEVEL", "WARNING"),
        "RECAST_BACKEND": "local",
        # A laptop render fails fast with its reason; clusters keep the default retries.
        "RECAST_TASK_RETRIES": os.environ.get("RECAST_TASK_RETRIES", "0"),
    }


def prepare(home: Path, extra: dict[str, str]) -> None:
    """Point this process (and its children) at `home`, creating the database once."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update({**airflow_env(home), **extra})
    marker = home / ".migrated"
    if not marker.exists():
        airflow_cli("db", "migrate")
        marker.touch()
