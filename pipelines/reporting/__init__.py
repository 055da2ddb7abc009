"""Reports for people: Markdown tables, HTML pages and figures for the comparison, the
pull-request report and the noise study. Imports no model library (tests/test_imports.py).
"""
