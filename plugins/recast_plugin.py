"""Registers Recast's Airflow extension points."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from recast_airflow import failures


class RecastPlugin(AirflowPlugin):
    name = "recast"
    listeners = [failures]  # noqa: RUF012  (Airflow's own attribute shape)
