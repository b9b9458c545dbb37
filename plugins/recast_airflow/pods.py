"""The exact pods the Kubernetes backend submits, for review (`recast pods`) and for the tests.

Each is built by KubernetesPodOperator itself (`build_pod_request_obj(dry_run=True)`) through
the same path as in a render: a GPU tier's pod is a swap unit of the mapped task, unmapped with
the per-unit arguments the DAG gives it; the `cpu` tier's pod is the split stage. `finalize`
is the one pod that differs from its tier's: it mounts the C2PA signing identity.
"""

from __future__ import annotations

from typing import Any

from recast_airflow import commands
from recast_airflow.config import Settings
from recast_airflow.kubernetes_backend import mapped_stage_operator, stage_operator, unit_kwargs
from recast_airflow.tiers import load_tiers
from tasks.layout import RunLayout
from tasks.storage import join

SAMPLE_RUN_ID = "manual__2026-01-01T00:00:00+00:00"
SAMPLE_UNIT = "u0000-0123abcd"
FINALIZE = "finalize"  # not a tier: the cpu tier's finalize stage


def _operator(settings: Settings, tier_name: str) -> Any:
    tiers = load_tiers(settings.tiers_file)
    layout = RunLayout.for_run(settings.work_uri, SAMPLE_RUN_ID)
    asset = join(settings.work_uri, "inputs", "film.mp4")
    if tier_name == FINALIZE:
        arguments = commands.finalize(asset, layout)
        return stage_operator(FINALIZE, tiers["cpu"], settings, arguments=arguments)
    tier = tiers[tier_name]
    if not tier.gpu_resource:
        return stage_operator("split", tier, settings, arguments=commands.split(asset, layout))
    from airflow.sdk import DAG

    kwargs = unit_kwargs(tier, commands.unit("swap", layout, SAMPLE_UNIT))
    with DAG("recast_pods_sample", schedule=None):
        mapped = mapped_stage_operator("swap", tier, settings).expand_kwargs([kwargs])
    return mapped.unmap(kwargs)


def sample_pod(settings: Settings, tier_name: str) -> dict[str, Any]:
    """The pod, as the Kubernetes API receives it (camelCase field names).

    `tier_name`: a tier of the tier file, or "finalize".
    """
    from kubernetes.client import ApiClient

    pod = _operator(settings, tier_name).build_pod_request_obj(context=None, dry_run=True)
    body: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
    return body


def sample_pods(settings: Settings, tier: str = "all") -> dict[str, dict[str, Any]]:
    """One pod per tier, and the finalize pod; or only `tier`'s."""
    names = [*sorted(load_tiers(settings.tiers_file)), FINALIZE] if tier == "all" else [tier]
    return {name: sample_pod(settings, name) for name in names}
