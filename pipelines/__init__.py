"""Thin DVC stage entry points (`python -m pipelines.<stage>`) and the Prefect flows.

A process started as ``python -m capo_pipelines.<x>`` pins its CPU numerics here, the first
code it runs, before any stage module imports torch (cpu_pins: CAPO_CPU_PINS).
"""

from capo_pipelines import cpu_pins as _cpu_pins

if _cpu_pins.is_pipeline_process():
    _cpu_pins.pin_process()
