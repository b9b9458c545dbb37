"""The Kubernetes backend: one KubernetesPodOperator per stage or unit, shaped by its tier.

What is the same for every pod (image, security, credentials, clean-up) is fixed when the DAG is
parsed; what depends on the tier (priority, tolerations, node selection, GPU, resources) is given
per unit at run time through `expand_kwargs`, so the tier chosen in the form reaches the pods.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

from recast_airflow.config import Settings
from recast_airflow.tiers import Tier
from tasks.allowlist import ENV as ALLOW_ENV

S3_SECRET = "recast-s3"  # keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL
WORKER_ACCOUNT = "recast-worker"  # deploy/k8s/rbac.yaml: no permissions, no token
RUN_AS = 10001  # the worker image's non-root user (images/worker/Dockerfile)
MODELS_PATH = "/models"
# The C2PA signing identity: the Secret's keys, as files, where the finalize pod reads them.
# Same names as tasks.provenance.identity.save writes, so its folder can become the Secret.
C2PA_PATH = "/etc/recast/c2pa"
C2PA_FILES = {"RECAST_C2PA_CERT": "chain.pem", "RECAST_C2PA_KEY": "key.pem"}
C2PA_ANCHOR = {"RECAST_C2PA_ANCHOR": "anchor.pem"}
SIGNING_STAGES = frozenset({"finalize"})  # the only pods that get the signing key


def tier_kwargs(tier: Tier) -> dict[str, Any]:
    """The operator arguments that differ from one tier to another."""
    return {
        "container_resources": k8s.V1ResourceRequirements(
            requests=tier.resource_requests(), limits=tier.resource_limits()
        ),
        "priority_class_name": tier.priority_class,
        "node_selector": dict(tier.node_selector),
        "tolerations": [k8s.V1Toleration(**t) for t in tier.tolerations],
        "labels": {
            "app.kubernetes.io/name": "recast-worker",
            "recast/tier": tier.name,
            "recast/gpus": str(tier.gpu_count if tier.gpu_resource else 0),
        },
    }


def locked_down() -> k8s.V1SecurityContext:
    """Every container, the XCom sidecar included (the "restricted" Pod Security Standard)."""
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        privileged=False,
        run_as_non_root=True,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


# The stage's metrics and log fields (tasks.metrics), from the pod's own labels (the Downward
# API): the tier's labels are set per unit at run time, these env entries are the same for all.
POD_LABEL_ENV = {
    "RECAST_DAG": "dag_id",
    "RECAST_TRY": "try_number",
    "RECAST_TIER": "recast/tier",
    "RECAST_GPUS": "recast/gpus",
}


def metrics_env(settings: Settings) -> list[k8s.V1EnvVar]:
    env = [
        k8s.V1EnvVar(
            name=name,
            value_from=k8s.V1EnvVarSource(
                field_ref=k8s.V1ObjectFieldSelector(field_path=f"metadata.labels['{label}']")
            ),
        )
        for name, label in POD_LABEL_ENV.items()
    ]
    if settings.pushgateway:
        env.append(k8s.V1EnvVar(name="RECAST_PUSHGATEWAY", value=settings.pushgateway))
    return env


def common_kwargs(settings: Settings) -> dict[str, Any]:
    """The operator arguments shared by every pod Recast starts."""
    env = [
        k8s.V1EnvVar(name="RECAST_RESULT_PATH", value="/airflow/xcom/return.json"),
        k8s.V1EnvVar(name="RECAST_SCRATCH", value="/scratch"),
        k8s.V1EnvVar(name="HOME", value="/scratch"),  # the root filesystem is read-only
        # The stages check their own command lines against the same list as validate.
        k8s.V1EnvVar(name=ALLOW_ENV, value=settings.allowlist().env_value()),
        *metrics_env(settings),
    ]
    volumes = [k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource())]
    mounts = [k8s.V1VolumeMount(name="scratch", mount_path="/scratch")]
    models = settings.models_uri
    if settings.models_pvc:  # the store as a volume: read-only, shared by every pod
        claim = k8s.V1PersistentVolumeClaimVolumeSource(
            claim_name=settings.models_pvc, read_only=True
        )
        volumes.append(k8s.V1Volume(name="models", persistent_volume_claim=claim))
        mounts.append(k8s.V1VolumeMount(name="models", mount_path=MODELS_PATH, read_only=True))
        models = MODELS_PATH
    if models:
        env.append(k8s.V1EnvVar(name="RECAST_MODELS", value=models))
    return {
        "namespace": settings.namespace,
        "image": settings.image,
        "cmds": ["python", "-m", "tasks"],
        "env_vars": env,
        # Credentials come from a Secret: never on the command line, in XCom or in logs.
        "env_from": [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=S3_SECRET))],
        "volumes": volumes,
        "volume_mounts": mounts,
        "service_account_name": WORKER_ACCOUNT,
        "security_context": k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=RUN_AS,
            run_as_group=RUN_AS,
            fs_group=RUN_AS,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        "container_security_context": locked_down(),
        "xcom_sidecar_container_security_context": locked_down(),
        "automount_service_account_token": False,
        "do_xcom_push": True,
        "get_logs": True,
        "durable": True,  # reattach to the running pod after a scheduler or worker restart
        "on_finish_action": "delete_succeeded_pod",  # failed pods stay for a post-mortem
        "deferrable": True,  # the triggerer waits for the pod, not a worker slot
        "startup_timeout_seconds": 900,  # a GPU node may have to be scaled up first
    }


def signing_kwargs(kwargs: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`kwargs` plus the signing identity: a read-only volume and the paths of its files.

    Never the key itself in the pod spec (an env value or an argument would show in the API,
    in `kubectl describe` and in Airflow's rendered fields). Optional, so that a missing
    Secret fails the stage at once (naming the file) instead of holding the pod in
    ContainerCreating until the startup timeout.
    """
    if not settings.c2pa_secret:
        return kwargs
    secret = k8s.V1SecretVolumeSource(
        secret_name=settings.c2pa_secret, default_mode=0o440, optional=True
    )  # 0440: readable through the pod's fsGroup, by the worker user only
    files = {**C2PA_FILES, **(C2PA_ANCHOR if settings.c2pa_anchor else {})}
    env = [k8s.V1EnvVar(name=n, value=f"{C2PA_PATH}/{f}") for n, f in files.items()]
    return {
        **kwargs,
        "env_vars": [*kwargs["env_vars"], *env],
        "volumes": [*kwargs["volumes"], k8s.V1Volume(name="c2pa", secret=secret)],
        "volume_mounts": [
            *kwargs["volume_mounts"],
            k8s.V1VolumeMount(name="c2pa", mount_path=C2PA_PATH, read_only=True),
        ],
    }


def pod_kwargs(tier: Tier, settings: Settings) -> dict[str, Any]:
    """Everything but task_id and arguments, for a pod of `tier`."""
    return {**common_kwargs(settings), **tier_kwargs(tier), "pool": tier.pool}


def stage_operator(task_id: str, tier: Tier, settings: Settings, **kwargs: Any) -> Any:
    pod = pod_kwargs(tier, settings)
    if task_id in SIGNING_STAGES:
        pod = signing_kwargs(pod, settings)
    return KubernetesPodOperator(task_id=task_id, **pod, **kwargs)


def mapped_stage_operator(task_id: str, tier: Tier, settings: Settings, **kwargs: Any) -> Any:
    """A partial operator; `unit_kwargs` gives each unit its arguments and its tier's fields.

    `tier` only names the default pool: the pool policy (recast_airflow.policies) moves each
    unit to the pool of the tier its run chose.
    """
    return KubernetesPodOperator.partial(
        task_id=task_id, **common_kwargs(settings), pool=tier.pool, **kwargs
    )


def unit_kwargs(tier: Tier, arguments: list[str]) -> dict[str, Any]:
    return {"arguments": arguments, **tier_kwargs(tier)}
