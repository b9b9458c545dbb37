"""The pods the Kubernetes backend would submit, built by KubernetesPodOperator itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recast_airflow.config import Settings
from recast_airflow.tiers import load_tiers

TIERS = Path(__file__).resolve().parents[2] / "plugins" / "recast_airflow" / "tiers.yaml"


def _settings() -> Settings:
    return Settings(
        backend="kubernetes",
        work_uri="s3://studio-renders",
        image="registry.example/recast-worker:1.0",
        namespace="recast",
        tiers_file=TIERS,
        models_uri="s3://studio-models/recast/",
    )


def _pod(tier_name: str) -> dict[str, Any]:
    from kubernetes.client import ApiClient

    from recast_airflow.kubernetes_backend import stage_operator

    tier = load_tiers(TIERS)[tier_name]
    args = ["swap", "--run", "s3://studio-renders/runs/r1", "--unit", "u0000-0123abcd"]
    op = stage_operator("swap", tier, _settings(), arguments=args)
    pod = op.build_pod_request_obj(context=None, dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)  # type: ignore[no-any-return]


@pytest.mark.parametrize("tier", sorted(load_tiers(TIERS)))
def test_pod_is_locked_down_and_runs_the_stage_cli(tier: str) -> None:
    pod = _pod(tier)
    spec = pod["spec"]
    container = spec["containers"][0]
    assert container["command"] == ["python", "-m", "tasks"]
    assert container["args"][0] == "swap"
    assert spec["priorityClassName"] == load_tiers(TIERS)[tier].priority_class
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # Credentials only through the Secret, never in the arguments or plain env values.
    assert container["envFrom"] == [{"secretRef": {"name": "recast-s3"}}]
    values = " ".join(str(e.get("value", "")) for e in container.get("env", []))
    assert "SECRET" not in values.upper() and "secret" not in " ".join(container["args"])


@pytest.mark.parametrize("tier", ["standard", "spot", "mig"])
def test_gpu_tiers_request_a_gpu_and_tolerate_its_taint(tier: str) -> None:
    pod = _pod(tier)
    resources = pod["spec"]["containers"][0]["resources"]
    gpu = load_tiers(TIERS)[tier].gpu_resource
    assert gpu is not None
    assert resources["limits"][gpu] == resources["requests"][gpu] == "1"
    tolerations = pod["spec"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert pod["spec"]["nodeSelector"]["nvidia.com/gpu.product"]


def test_only_the_spot_tier_tolerates_spot_nodes() -> None:
    def spot(tier: str) -> bool:
        return any(
            "spot" in t["key"] or t.get("value") == "spot"
            for t in _pod(tier)["spec"]["tolerations"]
        )

    assert spot("spot")
    assert not spot("standard") and not spot("cpu") and not spot("mig")


def test_cpu_tier_asks_for_no_gpu() -> None:
    resources = _pod("cpu")["spec"]["containers"][0]["resources"]
    assert not any("nvidia.com" in k for k in resources["limits"])


def test_a_bad_toleration_in_the_tier_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "tiers.yaml"
    bad.write_text(
        "cpu:\n  priority_class: p\n  pool: p\n  tolerations:\n"
        "    - {key: nvidia.com/gpu, operator: Exist, effect: NoSchedule}\n"
    )
    with pytest.raises(ValueError, match="operator 'Exist'"):
        load_tiers(bad)
