"""Recast's Grafana dashboard, generated with grafana-foundation-sdk (never hand-written JSON).

    python -m recast.dashboards

writes `deploy/monitoring/grafana/dashboards/recast.json`, which docker-compose's Grafana
provisions, and `deploy/monitoring/k8s/prometheusrule.yaml` (the alert rules of
`deploy/monitoring/rules.yaml` as the Prometheus Operator's resource).

The stage series are gauges of one unit attempt each (tasks.metrics): a panel sums those that
ended in the chosen window,
`... and (recast_stage_end_timestamp_seconds > time() - $window)`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
UID = "recast-renders"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
RECENT = "(recast_stage_end_timestamp_seconds > time() - $window)"
DAG = 'dag=~"$dag"'
UNITS = 'stage=~"swap|restore",dag=~"$dag"'


def recent(metric: str, selector: str = UNITS) -> str:
    """The unit attempts of `metric` that ended in the dashboard's window."""
    return f"({metric}{{{selector}}} and {RECENT})"


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _series(title: str, unit: str, *queries: tuple[str, str], width: int = 12) -> Any:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).height(8).span(width)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + i)))
    return panel


def _stat(title: str, unit: str, expr: str, width: int = 6) -> Any:
    return (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(DATASOURCE)
        .height(5)
        .span(width)
        .with_target(_query(expr, title).instant())
    )


def panels() -> list[tuple[str, list[Any]]]:
    """(row title, panels), in order."""
    swap = 'stage="swap",dag=~"$dag"'
    return [
        (
            "Throughput",
            [
                _series(
                    "Frames rendered per tier (units ended in the window)",
                    "short",
                    (f"sum by (tier) {recent('recast_stage_frames', swap)}", "{{tier}}"),
                ),
                _series(
                    "Frames per second per tier (frames / wall seconds of swap units)",
                    "short",
                    (
                        f"sum by (tier) {recent('recast_stage_frames', swap)}"
                        f" / sum by (tier) {recent('recast_stage_wall_seconds', swap)}",
                        "{{tier}}",
                    ),
                ),
                _stat(
                    "Faces swapped", "short", f"sum {recent('recast_stage_faces_swapped', swap)}"
                ),
                _stat("Frames rendered", "short", f"sum {recent('recast_stage_frames', swap)}"),
                _stat(
                    "Renders ended",
                    "short",
                    f"count(count by (run) {recent('recast_stage_wall_seconds', swap)})",
                ),
                _stat(
                    "Failed stage attempts",
                    "short",
                    'count(recast_stage_end_timestamp_seconds{outcome!="ok",dag=~"$dag"}'
                    " > time() - $window) or vector(0)",
                ),
            ],
        ),
        (
            "Cost",
            [
                _series(
                    "GPU-seconds per tier (wall x GPUs the tier reserves)",
                    "s",
                    (f"sum by (tier) {recent('recast_stage_gpu_seconds')}", "{{tier}}"),
                ),
                table.Panel()
                .title("GPU-seconds per render (top 20 in the window)")
                .datasource(DATASOURCE)
                .height(8)
                .span(12)
                .with_target(
                    _query(
                        f"topk(20, sum by (run, tier) {recent('recast_stage_gpu_seconds')})",
                        "{{run}}",
                    ).instant()
                ),
            ],
        ),
        (
            "Queues (Airflow's metrics through StatsD)",
            [
                _series(
                    "Tasks waiting per pool",
                    "short",
                    ('sum by (pool) (airflow_pool_starving_tasks{pool=~"recast_.*"})', "{{pool}}"),
                    ('sum by (pool) (airflow_pool_open_slots{pool=~"recast_.*"})', "{{pool}} open"),
                ),
                _series(
                    "Queue wait per task (p90 of queued -> running)",
                    "s",
                    (
                        'max by (dag_id, task_id) (airflow_task_queued_duration{dag_id=~"$dag",'
                        'quantile="0.9"})',
                        "{{dag_id}}.{{task_id}}",
                    ),
                ),
            ],
        ),
        (
            "Failures and retries",
            [
                _series(
                    "Failed or refused stage attempts by stage",
                    "short",
                    (
                        "count by (stage, outcome) (recast_stage_end_timestamp_seconds"
                        '{outcome!="ok",dag=~"$dag"} > time() - $window)',
                        "{{stage}} {{outcome}}",
                    ),
                ),
                _series(
                    "Retried unit attempts by stage",
                    "short",
                    (
                        'count by (stage) ((recast_stage_retries{dag=~"$dag"} > 0) and '
                        f"{RECENT})",
                        "{{stage}}",
                    ),
                ),
            ],
        ),
        (
            "Reuse",
            [
                _series(
                    "Reuse rate (units from a done marker or the unit cache)",
                    "percentunit",
                    (
                        "sum by (stage) "
                        f"{recent('recast_stage_reused_units', DAG)}"
                        " / sum by (stage) "
                        f"{recent('recast_stage_units', DAG)}",
                        "{{stage}}",
                    ),
                ),
                _series(
                    "Bytes moved per stage",
                    "bytes",
                    (
                        f"sum by (stage) {recent('recast_stage_bytes_read', DAG)}",
                        "{{stage}} read",
                    ),
                    (
                        f"sum by (stage) {recent('recast_stage_bytes_written', DAG)}",
                        "{{stage}} written",
                    ),
                ),
            ],
        ),
        (
            "GPUs (NVIDIA DCGM exporter, where the cluster runs it)",
            [
                _series(
                    "GPU utilisation",
                    "percent",
                    ("avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", "{{Hostname}} GPU {{gpu}}"),
                ),
                _series(
                    "GPU memory used",
                    "decmbytes",
                    ("max by (Hostname, gpu) (DCGM_FI_DEV_FB_USED)", "{{Hostname}} GPU {{gpu}}"),
                ),
            ],
        ),
    ]


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict, keys in a stable order)."""
    board = (
        dashboard.Dashboard("Recast renders")
        .uid(UID)
        .tags(["recast"])
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("utc")
        .with_variable(
            dashboard.CustomVariable("window")
            .label("Window (s)")
            .values("3600,21600,86400")
            .current(_option("3600"))
        )
        .with_variable(
            dashboard.QueryVariable("dag")
            .label("DAG")
            .datasource(DATASOURCE)
            .query("label_values(recast_stage_wall_seconds, dag)")
            .include_all(True)
            .all_value(".*")
            .current(_option("$__all", "All"))
        )
    )
    for title, row in panels():
        board = board.with_row(dashboard.Row(title))
        for panel in row:
            board = board.with_panel(panel)
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return built


def _option(value: str, text: str | None = None) -> Any:
    from grafana_foundation_sdk.models.dashboard import VariableOption

    return VariableOption(text=text or value, value=value, selected=True)


def queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression the dashboard runs (panels and variables)."""
    found = [t["expr"] for p in board["panels"] for t in p.get("targets", []) if "expr" in t]
    return found


def prometheus_rule() -> dict[str, Any]:
    """rules.yaml as a PrometheusRule, for clusters with the Prometheus Operator."""
    groups = yaml.safe_load((MONITORING / "rules.yaml").read_text())["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "recast", "namespace": "recast"},
        "spec": {"groups": groups},
    }


def write(root: Path = MONITORING) -> list[Path]:
    board = root / "grafana" / "dashboards" / "recast.json"
    board.parent.mkdir(parents=True, exist_ok=True)
    board.write_text(json.dumps(build(), indent=2, sort_keys=True) + "\n")
    rule = root / "k8s" / "prometheusrule.yaml"
    header = (
        "# Generated by `python -m recast.dashboards` from ../rules.yaml: edit that, not this.\n"
    )
    rule.write_text(header + yaml.safe_dump(prometheus_rule(), sort_keys=False, width=100))
    return [board, rule]


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else MONITORING):
        print(path)
