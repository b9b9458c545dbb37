"""One place that picks the backend from configuration: DAGs call these, never an operator."""

from __future__ import annotations

from typing import Any

from recast_airflow import commands
from recast_airflow.config import Settings
from recast_airflow.tiers import Tier, load_tiers


def _tier(settings: Settings, name: str) -> Tier:
    tiers = load_tiers(settings.tiers_file)
    if name not in tiers:
        raise ValueError(f"unknown tier {name!r}; {settings.tiers_file} has {sorted(tiers)}")
    return tiers[name]


def stage(task_id: str, tier: str, arguments: Any, **kwargs: Any) -> Any:
    """An operator running one `python -m tasks` stage."""
    settings = Settings.from_env()
    if settings.backend == "kubernetes":
        from recast_airflow.kubernetes_backend import stage_operator

        return stage_operator(
            task_id, _tier(settings, tier), settings, arguments=arguments, **kwargs
        )
    from recast_airflow.local_backend import LocalStageOperator

    pool = _tier(settings, tier).pool
    return LocalStageOperator(task_id=task_id, tier=tier, arguments=arguments, pool=pool, **kwargs)


def mapped_stage(task_id: str, default_tier: str, **kwargs: Any) -> Any:
    """A partial operator: `.expand_kwargs(units.map(unit_kwargs_for(...)))`, one task per unit.

    The units carry their run's tier; `default_tier` only names the pool the scheduler starts
    from (the pool policy moves each unit to its tier's pool).
    """
    settings = Settings.from_env()
    tier = _tier(settings, default_tier)
    if settings.backend == "kubernetes":
        from recast_airflow.kubernetes_backend import mapped_stage_operator

        return mapped_stage_operator(task_id, tier, settings, **kwargs)
    from recast_airflow.local_backend import LocalStageOperator

    return LocalStageOperator.partial(task_id=task_id, pool=tier.pool, **kwargs)


def unit_kwargs(stage_name: str, ref: dict[str, str]) -> dict[str, Any]:
    """The operator arguments of one unit: its stage command, and its tier for the backend.

    Runs on the worker when the mapped task starts, so the tier table is read at run time.
    """
    arguments = commands.unit_ref(stage_name, ref)
    settings = Settings.from_env()
    if settings.backend == "kubernetes":
        from recast_airflow.kubernetes_backend import unit_kwargs as pod_unit_kwargs

        return pod_unit_kwargs(_tier(settings, ref["tier"]), arguments)
    return {"arguments": arguments, "tier": ref["tier"]}


def swap_unit(ref: dict[str, str]) -> dict[str, Any]:
    """For XComArg.map over the plan's unit references (a plain function: the map needs one)."""
    return unit_kwargs("swap", ref)


def restore_unit(ref: dict[str, str]) -> dict[str, Any]:
    return unit_kwargs("restore", ref)
