"""Airflow's local settings for Recast: the per-run tier pool policy.

A deployment with its own airflow_local_settings imports this hook into it instead.
"""

from recast_airflow.policies import task_instance_mutation_hook

__all__ = ["task_instance_mutation_hook"]
