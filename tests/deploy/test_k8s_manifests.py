"""deploy/k8s: valid against the Kubernetes schemas, and in step with the tier file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from recast_airflow.config import Settings
from recast_airflow.kubernetes_backend import (
    C2PA_ANCHOR,
    C2PA_FILES,
    S3_SECRET,
    WORKER_ACCOUNT,
)
from recast_airflow.pods import FINALIZE, sample_pod
from recast_airflow.tiers import gpu_tiers, load_tiers

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TIERS = ROOT / "plugins" / "recast_airflow" / "tiers.yaml"
K8S_VERSION = "1.37.0"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _all() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in _docs(path)]


def _kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in _all() if d["kind"] == kind]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_passes_the_kubernetes_schema_strictly(path: Path) -> None:
    for doc in _docs(path):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomization_applies_every_manifest_but_the_examples() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in MANIFESTS if ".example." not in p.name)


def test_every_tier_has_its_priority_class() -> None:
    classes = {d["metadata"]["name"]: d for d in _kind("PriorityClass")}
    assert {t.priority_class for t in load_tiers(TIERS).values()} == set(classes)
    assert all(not c.get("globalDefault") for c in classes.values())
    assert classes["recast-spot"]["preemptionPolicy"] == "Never"
    assert classes["recast-spot"]["value"] < classes["recast-standard"]["value"]


def test_the_operator_role_is_least_privilege() -> None:
    (role,) = _kind("Role")
    rules = {r["resources"][0]: set(r["verbs"]) for r in role["rules"]}
    assert all(len(r["resources"]) == 1 and r["apiGroups"] == [""] for r in role["rules"])
    assert rules == {
        "pods": {"create", "get", "list", "watch", "patch", "delete"},
        "pods/log": {"get"},
        "pods/exec": {"create", "get"},
        "events": {"get", "list", "watch"},
    }
    assert not _kind("ClusterRole") and not _kind("ClusterRoleBinding")
    (binding,) = _kind("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert [s["name"] for s in binding["subjects"]] == ["recast-airflow"]


def test_the_pods_account_has_no_token_and_no_role() -> None:
    accounts = {a["metadata"]["name"]: a for a in _kind("ServiceAccount")}
    assert accounts[WORKER_ACCOUNT]["automountServiceAccountToken"] is False
    bound = {s["name"] for b in _kind("RoleBinding") for s in b["subjects"]}
    assert WORKER_ACCOUNT not in bound


def test_the_namespace_enforces_the_restricted_profile() -> None:
    (ns,) = _kind("Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {
        d["metadata"].get("namespace")
        for d in _all()
        if d["kind"] not in ("Namespace", "PriorityClass", "Node")
    } == {ns["metadata"]["name"]}


def test_the_quota_covers_every_gpu_resource_of_the_tiers() -> None:
    (quota,) = _kind("ResourceQuota")
    hard = quota["spec"]["hard"]
    for tier in gpu_tiers(load_tiers(TIERS)).values():
        assert f"requests.{tier.gpu_resource}" in hard
    (limits,) = _kind("LimitRange")
    assert limits["spec"]["limits"][0]["default"]["cpu"]  # for the XCom sidecar


def _secrets() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _kind("Secret")}


def test_the_example_secret_is_the_one_the_pods_read() -> None:
    secret = _secrets()[S3_SECRET]
    assert set(secret["stringData"]) >= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_the_example_signing_secret_is_the_one_finalize_mounts() -> None:
    settings = Settings("kubernetes", "s3://r", "img", "recast", TIERS, None)
    pod = sample_pod(settings, FINALIZE)
    (volume,) = [v for v in pod["spec"]["volumes"] if "secret" in v]
    secret = _secrets()[volume["secret"]["secretName"]]
    assert set(secret["stringData"]) == {*C2PA_FILES.values(), *C2PA_ANCHOR.values()}
    # An example only: no key material is committed.
    assert set(secret["stringData"].values()) == {"REPLACE-ME"}


def _tolerates(tolerations: list[dict[str, str]], taint: dict[str, str]) -> bool:
    def match(t: dict[str, str]) -> bool:
        if t.get("effect") and t["effect"] != taint["effect"]:
            return False
        if t["operator"] == "Exists":
            return t.get("key") in (None, taint["key"])
        return t["key"] == taint["key"] and t.get("value") == taint.get("value")

    return any(match(t) for t in tolerations)


@pytest.mark.parametrize("tier", sorted(gpu_tiers(load_tiers(TIERS))))
def test_every_gpu_tier_fits_an_example_node(tier: str) -> None:
    settings = Settings("kubernetes", "s3://r", "img", "recast", TIERS, None)
    spec = sample_pod(settings, tier)["spec"]
    requests = spec["containers"][0]["resources"]["requests"]
    gpu = next(k for k in requests if k.startswith("nvidia.com/"))

    def fits(node: dict[str, Any]) -> bool:
        labels = node["metadata"]["labels"]
        return (
            all(labels.get(k) == v for k, v in spec["nodeSelector"].items())
            and all(_tolerates(spec["tolerations"], t) for t in node["spec"]["taints"])
            and gpu in node["status"]["allocatable"]
        )

    assert [n["metadata"]["name"] for n in _kind("Node") if fits(n)]


def test_a_gpu_node_is_out_of_bounds_for_the_cpu_tier() -> None:
    settings = Settings("kubernetes", "s3://r", "img", "recast", TIERS, None)
    tolerations = sample_pod(settings, "cpu")["spec"].get("tolerations") or []
    for node in _kind("Node"):
        assert not all(_tolerates(tolerations, t) for t in node["spec"]["taints"])
