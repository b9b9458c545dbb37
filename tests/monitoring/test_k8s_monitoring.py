"""deploy/monitoring/k8s: the Pushgateway against the Kubernetes schemas, the Prometheus
Operator's resources (CRDs: checked field by field) in step with it and with rules.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from recast import dashboards

K8S = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "k8s"


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def test_the_pushgateway_passes_the_kubernetes_schema_and_the_restricted_standard() -> None:
    deployment, service = _docs("pushgateway.yaml")
    for doc in (deployment, service):
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == labels


def test_the_service_monitor_scrapes_the_gateway_keeping_the_pushed_labels() -> None:
    (_, service), (monitor,) = _docs("pushgateway.yaml"), _docs("servicemonitor.yaml")
    assert monitor["kind"] == "ServiceMonitor"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_pod_monitor_names_the_chart_s_statsd_scrape_port() -> None:
    (monitor,) = _docs("podmonitor.yaml")
    assert monitor["kind"] == "PodMonitor"
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["statsd-scrape"]


def test_the_prometheus_rule_is_rules_yaml_as_generated() -> None:
    (rule,) = _docs("prometheusrule.yaml")
    assert rule == dashboards.prometheus_rule(), "run: python -m recast.dashboards"
