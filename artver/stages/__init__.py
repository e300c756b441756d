"""Pipelines: `artver.yaml` stages, their DAG, the lock, staleness and running them."""
