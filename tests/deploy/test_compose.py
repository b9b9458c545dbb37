"""docker-compose.yaml against the Compose specification's JSON schema.

The schema is the one check-jsonschema vendors from compose-spec/compose-spec (Apache-2.0;
its licence ships beside it in the package)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_COMPONENTS = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"]
AIRFLOW_COMPONENTS += ["airflow-triggerer"]
MONITORING = ["prometheus", "pushgateway", "statsd-exporter", "grafana"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return doc


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    assert (vendor / "licenses" / "LICENSE.compose-spec").is_file()
    jsonschema.validators.validator_for(schema)(schema).validate(compose)


def test_the_stack_has_airflow_3_postgres_and_s3(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) - set(MONITORING) == {
        "postgres",
        "s3",
        "airflow-init",
        *AIRFLOW_COMPONENTS,
    }
    commands = {name: services[name]["command"] for name in AIRFLOW_COMPONENTS}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }
    for name in AIRFLOW_COMPONENTS:
        env = services[name]["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert env["RECAST_BACKEND"] == "kubernetes"
        assert services[name]["depends_on"]["airflow-init"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["build"]["dockerfile"] == "images/airflow/Dockerfile"


def test_kubernetes_connection_comes_from_a_mounted_kubeconfig(compose: dict[str, Any]) -> None:
    scheduler = compose["services"]["airflow-scheduler"]
    conn = json.loads(scheduler["environment"]["AIRFLOW_CONN_KUBERNETES_DEFAULT"])
    assert conn["conn_type"] == "kubernetes"
    path = conn["extra"]["kube_config_path"]
    mounts = [v.rsplit(":", 2) for v in scheduler["volumes"]]
    assert any(path.startswith(target) and mode == "ro" for _, target, mode in mounts)


def test_ports_only_on_loopback_and_pools_created(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    init = " ".join(compose["services"]["airflow-init"]["command"])
    assert "airflow db migrate" in init and "recast_airflow.pools" in init
    assert (ROOT / "deploy" / "compose" / "passwords.json").is_file()


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> the repository file or folder mounted there (read-only)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, mode = [*volume.split(":"), ""][:3]
        if source.startswith("./"):
            assert mode == "ro", volume
            found[target] = ROOT / source
    return found


def test_the_monitoring_stack_is_provisioned_from_the_repository(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(MONITORING) <= set(services)
    prom = _mounts(services["prometheus"])
    config = yaml.safe_load(prom["/etc/prometheus/prometheus.yml"].read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules.yaml"]
    assert prom["/etc/prometheus/rules.yaml"] == ROOT / "deploy/monitoring/rules.yaml"
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pushgateway"]["static_configs"][0]["targets"] == ["pushgateway:9091"]
    assert jobs["airflow"]["static_configs"][0]["targets"] == ["statsd-exporter:9102"]
    grafana = _mounts(services["grafana"])
    provisioning = grafana["/etc/grafana/provisioning"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "recast.yaml").read_text())[
        "providers"
    ]
    boards = grafana[provider["options"]["path"]]
    assert sorted(p.name for p in boards.glob("*.json")) == ["recast.json"]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090" and source["uid"] == "prometheus"
    mapping = _mounts(services["statsd-exporter"])["/etc/statsd/mapping.yaml"]
    names = {m["name"] for m in yaml.safe_load(mapping.read_text())["mappings"]}
    assert {"airflow_pool_starving_tasks", "airflow_pool_open_slots"} <= names


def test_airflow_sends_its_metrics_to_statsd(compose: dict[str, Any]) -> None:
    for name in AIRFLOW_COMPONENTS:
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__METRICS__STATSD_ON"] == "True"
        assert env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"
        assert env["AIRFLOW__METRICS__STATSD_PREFIX"] == "airflow"
