"""Evaluation: task suites through episodes in a sandbox pool, and judges against validators.

``suite`` runs suites; ``judge`` measures a judge's verdicts against the validators'.
"""
