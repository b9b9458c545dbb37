"""Registers Recast's Airflow extension points."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from recast_airflow import failures, links, masking


class RecastPlugin(AirflowPlugin):
    name = "recast"
    listeners = [failures, masking]  # noqa: RUF012  (Airflow's own attribute shape)
    global_operator_extra_links = links.LINKS
