"""Policies that are not a model: scripted, baselines (noop, random), the task oracle, replay."""
