"""The CAPO algorithm on TRL: loss settings, the loss, CAPOConfig and CAPOTrainer.

Imports only torch, transformers, trl, the standard library and capo.errors
(tests/test_imports.py), so `pip install capo` without the pipeline extra is enough.
"""
