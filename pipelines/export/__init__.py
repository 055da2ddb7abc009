"""The built-in benchmark as a Hugging Face dataset with its card (`capo benchmark export`).

from capo_pipelines.export.benchmark_export import export_benchmark
"""
