"""One place that picks the backend from configuration: DAGs call these, never an operator."""

from __future__ import annotations

from typing import Any

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

    return LocalStageOperator(task_id=task_id, tier=tier, arguments=arguments, **kwargs)


def mapped_stage(task_id: str, tier: str, **kwargs: Any) -> Any:
    """A partial operator: `.expand(arguments=[[...], [...]])` gives one task per unit."""
    settings = Settings.from_env()
    if settings.backend == "kubernetes":
        from recast_airflow.kubernetes_backend import mapped_stage_operator

        return mapped_stage_operator(task_id, _tier(settings, tier), settings, **kwargs)
    from recast_airflow.local_backend import LocalStageOperator

    return LocalStageOperator.partial(task_id=task_id, tier=tier, **kwargs)
