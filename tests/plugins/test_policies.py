"""The pool policy: unit tasks queue in the pool of the tier their run chose."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from recast_airflow.config import Settings
from recast_airflow.policies import task_instance_mutation_hook, tier_pool
from recast_airflow.pools import pool_table
from recast_airflow.tiers import load_tiers

TIERS = Path(__file__).resolve().parents[2] / "plugins" / "recast_airflow" / "tiers.yaml"
SETTINGS = Settings("local", "s3://b", "img", "ns", TIERS, None)


@pytest.mark.parametrize(
    ("pool", "conf", "expected"),
    [
        ("recast_gpu_standard", {"tier": "spot"}, "recast_gpu_spot"),
        ("recast_gpu_standard", {"tier": "mig"}, "recast_gpu_mig"),
        ("recast_gpu_standard", {}, "recast_gpu_standard"),  # the form's default
        ("recast_gpu_standard", {"tier": "cpu"}, "recast_gpu_standard"),  # not a GPU tier
        ("recast_gpu_standard", {"tier": "nope"}, "recast_gpu_standard"),
        ("recast_cpu", {"tier": "spot"}, "recast_cpu"),  # media stages keep theirs
        ("default_pool", {"tier": "spot"}, "default_pool"),  # other tasks, other DAGs
    ],
)
def test_tier_pool(pool: str, conf: dict[str, str], expected: str) -> None:
    assert tier_pool(pool, conf, SETTINGS) == expected


def test_the_hook_moves_a_task_instance_and_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECAST_TIERS_FILE", str(TIERS))
    ti = SimpleNamespace(pool="recast_gpu_standard")
    task_instance_mutation_hook(ti, None)  # no run yet: nothing to route on
    assert ti.pool == "recast_gpu_standard"
    task_instance_mutation_hook(ti, SimpleNamespace(conf={"tier": "spot"}))
    assert ti.pool == "recast_gpu_spot"
    monkeypatch.setenv("RECAST_TIERS_FILE", "/nonexistent/tiers.yaml")
    task_instance_mutation_hook(ti, SimpleNamespace(conf={"tier": "mig"}))
    assert ti.pool == "recast_gpu_spot"


def test_airflow_loads_the_policy_from_the_plugins_folder() -> None:
    import sys

    from airflow.settings import get_policy_plugin_manager

    impls = get_policy_plugin_manager().hook.task_instance_mutation_hook.get_hookimpls()
    assert [impl.plugin_name for impl in impls] == ["AirflowLocalSettingsPolicy"]
    local_settings = Path(sys.modules["airflow_local_settings"].__file__ or "")
    assert local_settings == TIERS.parents[2] / "plugins" / "airflow_local_settings.py"


def test_every_tier_pool_counts_deferred_pods() -> None:
    table = pool_table(load_tiers(TIERS), max_slots=2)
    assert set(table) == {t.pool for t in load_tiers(TIERS).values()}
    assert all(p["include_deferred"] and p["slots"] == 2 for p in table.values())
    assert pool_table(load_tiers(TIERS))["recast_gpu_spot"]["slots"] == 16
