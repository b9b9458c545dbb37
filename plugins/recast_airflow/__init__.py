"""Recast's Airflow side: backends that run a stage (local process or Kubernetes pod), tiers,
the commands each stage runs. DAG files import from here; `tasks` never imports from here.
"""
