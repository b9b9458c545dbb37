"""Recast on a laptop: the CLI, the demo and sample media (no Airflow imports here)."""
