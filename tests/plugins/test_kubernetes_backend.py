"""The pods the Kubernetes backend would submit, built by KubernetesPodOperator itself, checked
against the Kubernetes schemas and for what the schemas do not enforce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from recast_airflow.config import Settings
from recast_airflow.kubernetes_backend import C2PA_PATH, S3_SECRET
from recast_airflow.pods import FINALIZE, sample_pod
from recast_airflow.tiers import TAINT_EFFECTS, TOLERATION_OPERATORS, load_tiers

TIERS = Path(__file__).resolve().parents[2] / "plugins" / "recast_airflow" / "tiers.yaml"
K8S_VERSION = "1.37.0"  # the newest schemas kubernetes-validate ships
ALL_TIERS = sorted(load_tiers(TIERS))
GPU_TIERS = [name for name in ALL_TIERS if load_tiers(TIERS)[name].gpu_resource]
ALL_PODS = [*ALL_TIERS, FINALIZE]  # a pod per tier, and the one that signs


def _settings() -> Settings:
    return Settings(
        backend="kubernetes",
        work_uri="s3://studio-renders",
        image="registry.example/recast-worker:1.0",
        namespace="recast",
        tiers_file=TIERS,
        models_uri="s3://studio-models/recast/",
    )


@pytest.fixture(scope="module")
def pods() -> dict[str, dict[str, Any]]:
    return {name: sample_pod(_settings(), name) for name in [*ALL_TIERS, FINALIZE]}


@pytest.fixture(scope="module")
def render_dag() -> Any:
    """The render DAG as the Kubernetes backend builds it."""
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECAST_BACKEND", "kubernetes")
        mp.setenv("RECAST_TIERS_FILE", str(TIERS))
        return DagBag(dag_folder=str(TIERS.parents[2] / "dags" / "recast_render.py")).dags[
            "recast_render"
        ]


@pytest.mark.parametrize("tier", ALL_PODS)
def test_pod_passes_the_kubernetes_schema_strictly(pods: dict[str, Any], tier: str) -> None:
    kubernetes_validate.validate(pods[tier], K8S_VERSION, strict=True)


@pytest.mark.parametrize("tier", ALL_PODS)
def test_pod_is_locked_down_and_runs_the_stage_cli(pods: dict[str, Any], tier: str) -> None:
    spec = pods[tier]["spec"]
    worker = spec["containers"][0]
    assert worker["command"] == ["python", "-m", "tasks"]
    stage = "swap" if tier in GPU_TIERS else "split"
    assert worker["args"][0] == (FINALIZE if tier == FINALIZE else stage)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] > 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["restartPolicy"] == "Never"  # retries are Airflow's, with backoff
    # Every container, the XCom sidecar included (the "restricted" Pod Security Standard).
    assert [c["name"] for c in spec["containers"]] == ["base", "airflow-xcom-sidecar"]
    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["privileged"] is False
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
    # A writable scratch volume, since the root filesystem is read-only.
    assert {"mountPath": "/scratch", "name": "scratch"} in worker["volumeMounts"]


@pytest.mark.parametrize("tier", ALL_PODS)
def test_credentials_only_come_from_the_secret(pods: dict[str, Any], tier: str) -> None:
    worker = pods[tier]["spec"]["containers"][0]
    assert worker["envFrom"] == [{"secretRef": {"name": S3_SECRET}}]
    env = {e["name"]: e.get("value", "") for e in worker.get("env", [])}
    assert not any("AWS" in name or "SECRET" in name for name in env)
    assert not any("secret" in arg.lower() for arg in worker["args"])


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_priority_class_and_tier_label_are_the_tiers(pods: dict[str, Any], tier: str) -> None:
    pod = pods[tier]
    assert pod["spec"]["priorityClassName"] == load_tiers(TIERS)[tier].priority_class
    assert pod["metadata"]["labels"]["recast/tier"] == tier
    assert pod["metadata"]["namespace"] == "recast"


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_toleration_values_are_ones_kubernetes_knows(pods: dict[str, Any], tier: str) -> None:
    # The schema types these as free strings; a typo would silently never match a taint.
    for toleration in pods[tier]["spec"].get("tolerations") or []:
        assert toleration["operator"] in TOLERATION_OPERATORS
        assert toleration["effect"] in TAINT_EFFECTS
        assert ("value" in toleration) == (toleration["operator"] == "Equal")


@pytest.mark.parametrize("tier", GPU_TIERS)
def test_gpu_tiers_request_a_gpu_and_tolerate_its_taint(pods: dict[str, Any], tier: str) -> None:
    spec = pods[tier]["spec"]
    resources = spec["containers"][0]["resources"]
    gpu = load_tiers(TIERS)[tier].gpu_resource
    assert gpu is not None and gpu.startswith("nvidia.com/")
    # Extended resources cannot be overcommitted: the API refuses limit != request.
    assert resources["limits"][gpu] == resources["requests"][gpu] == "1"
    for name in ("cpu", "memory"):
        assert resources["requests"][name] and resources["limits"][name]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
        spec["tolerations"]
    )
    assert spec["nodeSelector"]["nvidia.com/gpu.product"]


def test_the_mig_tier_asks_for_a_slice_not_a_whole_gpu(pods: dict[str, Any]) -> None:
    limits = pods["mig"]["spec"]["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in limits
    assert any(k.startswith("nvidia.com/mig-") for k in limits)


def test_only_the_spot_tier_tolerates_spot_nodes(pods: dict[str, Any]) -> None:
    def spot(tier: str) -> bool:
        return any(
            "spot" in t["key"] or t.get("value") == "spot"
            for t in pods[tier]["spec"].get("tolerations") or []
        )

    assert [tier for tier in ALL_TIERS if spot(tier)] == ["spot"]


def test_cpu_tier_asks_for_no_gpu(pods: dict[str, Any]) -> None:
    resources = pods["cpu"]["spec"]["containers"][0]["resources"]
    assert not any("nvidia.com" in k for k in resources["limits"])
    assert not pods["cpu"]["spec"].get("tolerations")


def test_the_tier_of_the_run_reaches_the_unit_pods(
    render_dag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAG's own mapped swap task, unmapped with the kwargs a `spot` run gives a unit."""
    from kubernetes.client import ApiClient

    from recast_airflow import backends

    monkeypatch.setenv("RECAST_BACKEND", "kubernetes")  # unit_kwargs reads it at run time
    monkeypatch.setenv("RECAST_TIERS_FILE", str(TIERS))
    dag = render_dag
    swap = dag.get_task("swap")
    ref = {"run": "s3://studio-renders/runs/r1", "unit": "u0000-0123abcd", "tier": "spot"}
    kwargs = backends.swap_unit(ref)
    pod = ApiClient().sanitize_for_serialization(
        swap.unmap(kwargs).build_pod_request_obj(context=None, dry_run=True)
    )
    assert pod["spec"]["priorityClassName"] == "recast-spot"
    assert pod["metadata"]["labels"]["recast/tier"] == "spot"
    assert pod["spec"]["containers"][0]["args"] == [
        "swap",
        "--run",
        ref["run"],
        "--unit",
        ref["unit"],
    ]
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_pod_resilience_settings() -> None:
    """Deferrable waiting, reattach after a restart, failed pods kept for a post-mortem."""
    from recast_airflow.kubernetes_backend import common_kwargs

    kwargs = common_kwargs(_settings())
    assert kwargs["deferrable"] is True
    assert kwargs["durable"] is True
    assert kwargs["on_finish_action"] == "delete_succeeded_pod"


def test_a_bad_toleration_in_the_tier_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "tiers.yaml"
    bad.write_text(
        "cpu:\n  priority_class: p\n  pool: p\n  tolerations:\n"
        "    - {key: nvidia.com/gpu, operator: Exist, effect: NoSchedule}\n"
    )
    with pytest.raises(ValueError, match="operator 'Exist'"):
        load_tiers(bad)


def test_recast_pods_writes_one_file_per_tier(tmp_path: Path) -> None:
    import json

    from recast.cli import main

    assert main(["pods", "--out", str(tmp_path)]) == 0
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted(ALL_PODS)
    pod = json.loads((tmp_path / "spot.json").read_text())
    assert pod["kind"] == "Pod" and pod["spec"]["priorityClassName"] == "recast-spot"
    assert main(["pods", "--tier", "nope", "--out", str(tmp_path)]) == 1
    only = tmp_path / "finalize-only"
    assert main(["pods", "--tier", "finalize", "--out", str(only)]) == 0
    assert [p.name for p in only.glob("*.json")] == ["finalize.json"]


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_pods_check_their_buckets_against_the_same_allow_list(
    pods: dict[str, Any], tier: str
) -> None:
    env = {e["name"]: e.get("value") for e in pods[tier]["spec"]["containers"][0]["env"]}
    assert env["RECAST_ALLOWED_BUCKETS"] == "studio-renders"  # unset: the work bucket


def _c2pa(pod: dict[str, Any]) -> tuple[list[Any], list[Any], dict[str, str]]:
    """The pod's signing volume, its worker's mount of it, and its C2PA env."""
    worker = pod["spec"]["containers"][0]
    volumes = [v for v in pod["spec"]["volumes"] if "secret" in v]
    mounts = [m for m in worker["volumeMounts"] if m["name"] in {v["name"] for v in volumes}]
    env = {e["name"]: e["value"] for e in worker["env"] if e["name"].startswith("RECAST_C2PA")}
    return volumes, mounts, env


def test_the_finalize_pod_reads_the_signing_identity_from_the_secret(
    pods: dict[str, Any],
) -> None:
    volumes, mounts, env = _c2pa(pods[FINALIZE])
    (volume,) = volumes
    assert volume["secret"]["secretName"] == "recast-c2pa"
    assert volume["secret"]["defaultMode"] == 0o440  # the worker's group (fsGroup) only
    assert mounts == [{"mountPath": C2PA_PATH, "name": volume["name"], "readOnly": True}]
    assert env == {
        "RECAST_C2PA_CERT": f"{C2PA_PATH}/chain.pem",
        "RECAST_C2PA_KEY": f"{C2PA_PATH}/key.pem",
        "RECAST_C2PA_ANCHOR": f"{C2PA_PATH}/anchor.pem",
    }
    # Never in the XCom sidecar, never in env values or arguments.
    sidecar = pods[FINALIZE]["spec"]["containers"][1]
    assert not [m for m in sidecar.get("volumeMounts") or [] if m["name"] == volume["name"]]
    worker = pods[FINALIZE]["spec"]["containers"][0]
    assert not [e for e in worker["env"] if "secretKeyRef" in e.get("valueFrom", {})]


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_no_other_pod_gets_the_signing_identity(pods: dict[str, Any], tier: str) -> None:
    assert _c2pa(pods[tier]) == ([], [], {})


def test_the_render_dag_mounts_the_identity_in_its_finalize_task_only(render_dag: Any) -> None:
    with_key = {
        t.task_id
        for t in render_dag.tasks
        if any(v.secret for v in getattr(t, "volumes", None) or [])
    }
    assert with_key == {"finalize"}
    kpo = {t.task_id for t in render_dag.tasks if "KubernetesPod" in type(t).__name__}
    assert {"probe", "split", "assemble", "finalize"} <= kpo  # the check saw the pods


def test_the_secret_name_and_its_anchor_are_configurable() -> None:
    from dataclasses import replace

    renamed = sample_pod(
        replace(_settings(), c2pa_secret="studio-c2pa", c2pa_anchor=False), FINALIZE
    )
    volumes, _, env = _c2pa(renamed)
    assert volumes[0]["secret"]["secretName"] == "studio-c2pa"
    assert set(env) == {"RECAST_C2PA_CERT", "RECAST_C2PA_KEY"}
    assert _c2pa(sample_pod(replace(_settings(), c2pa_secret=None), FINALIZE)) == ([], [], {})


def test_the_identity_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECAST_C2PA_IDENTITY", raising=False)
    assert Settings.from_env().c2pa_secret == "recast-c2pa"
    monkeypatch.setenv("RECAST_C2PA_IDENTITY", "none")
    assert Settings.from_env().c2pa_secret is None
    monkeypatch.setenv("RECAST_C2PA_IDENTITY_ANCHOR", "false")
    assert Settings.from_env().c2pa_anchor is False


def test_a_folder_saved_by_the_identity_module_is_the_secret_s_layout(tmp_path: Path) -> None:
    """`kubectl create secret generic recast-c2pa --from-file=<folder>` gives the pod its files."""
    from tasks.provenance.identity import development_identity, save

    env = save(development_identity(days=1), tmp_path)
    mounted = {
        e["name"]: e["value"]
        for e in sample_pod(_settings(), FINALIZE)["spec"]["containers"][0]["env"]
        if "value" in e  # not the Downward API's (tasks.metrics' labels)
    }
    assert {name: Path(path).name for name, path in env.items()} == {
        name: Path(mounted[name]).name for name in env
    }


def test_recast_pods_writes_no_key_material(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with the identity configured on the Airflow side, only paths reach the pods."""
    from recast.cli import main
    from tasks.provenance.identity import development_identity, save

    identity = development_identity(days=1)
    for name, path in save(identity, tmp_path / "id").items():
        monkeypatch.setenv(name, path)
    assert main(["pods", "--out", str(tmp_path / "pods")]) == 0
    text = "".join(p.read_text() for p in (tmp_path / "pods").glob("*.json"))
    assert "recast-c2pa" in text and str(tmp_path) not in text
    key_lines = [ln for ln in identity.key_pem.decode().splitlines() if "-----" not in ln]
    assert "PRIVATE KEY" not in text and not [ln for ln in key_lines if ln in text]
    assert "BEGIN CERTIFICATE" not in text


@pytest.mark.parametrize("tier", ALL_TIERS)
def test_the_stage_reads_its_metrics_labels_from_its_own_pod(
    pods: dict[str, Any], tier: str
) -> None:
    """tasks.metrics labels series with the tier, DAG and try: the pod's labels, by the
    Downward API, so the same env list serves every tier."""
    pod = pods[tier]
    labels = pod["metadata"]["labels"]
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    for name, label in {"RECAST_TIER": "recast/tier", "RECAST_GPUS": "recast/gpus"}.items():
        path = env[name]["valueFrom"]["fieldRef"]["fieldPath"]
        assert path == f"metadata.labels['{label}']" and label in labels
    assert labels["recast/tier"] == tier
    assert labels["recast/gpus"] == ("0" if tier == "cpu" else "1")
