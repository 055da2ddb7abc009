"""Thin DVC stage entry points (`python -m pipelines.<stage>`) and the Prefect flows."""
