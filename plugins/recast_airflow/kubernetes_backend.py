"""The Kubernetes backend: one KubernetesPodOperator per stage or unit, shaped by its tier."""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

from recast_airflow.config import Settings
from recast_airflow.tiers import Tier

S3_SECRET = "recast-s3"  # keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL


def pod_kwargs(tier: Tier, settings: Settings) -> dict[str, Any]:
    """Everything but task_id and arguments: the same for every unit of a tier."""
    env = [
        k8s.V1EnvVar(name="RECAST_RESULT_PATH", value="/airflow/xcom/return.json"),
        k8s.V1EnvVar(name="RECAST_SCRATCH", value="/scratch"),
    ]
    if settings.models_uri:
        env.append(k8s.V1EnvVar(name="RECAST_MODELS", value=settings.models_uri))
    return {
        "namespace": settings.namespace,
        "image": settings.image,
        "cmds": ["python", "-m", "tasks"],
        "env_vars": env,
        # Credentials come from a Secret: never on the command line, in XCom or in logs.
        "env_from": [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=S3_SECRET))],
        "container_resources": k8s.V1ResourceRequirements(
            requests=tier.resource_requests(), limits=tier.resource_limits()
        ),
        "priority_class_name": tier.priority_class,
        "node_selector": tier.node_selector,
        "tolerations": [k8s.V1Toleration(**t) for t in tier.tolerations],
        "volumes": [k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource())],
        "volume_mounts": [k8s.V1VolumeMount(name="scratch", mount_path="/scratch")],
        "security_context": k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=10001,
            run_as_group=10001,
            fs_group=10001,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        "container_security_context": k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            privileged=False,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        "automount_service_account_token": False,
        "labels": {"app.kubernetes.io/name": "recast-worker", "recast/tier": tier.name},
        "do_xcom_push": True,
        "get_logs": True,
        "durable": True,  # reattach to a running pod after a scheduler restart
        "on_finish_action": "delete_succeeded_pod",
        "deferrable": True,
        "startup_timeout_seconds": 900,  # a GPU node may have to be scaled up first
        "pool": tier.pool,
    }


def stage_operator(task_id: str, tier: Tier, settings: Settings, **kwargs: Any) -> Any:
    return KubernetesPodOperator(task_id=task_id, **pod_kwargs(tier, settings), **kwargs)


def mapped_stage_operator(task_id: str, tier: Tier, settings: Settings, **kwargs: Any) -> Any:
    return KubernetesPodOperator.partial(task_id=task_id, **pod_kwargs(tier, settings), **kwargs)
