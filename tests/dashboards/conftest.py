"""The hand-built KPI datasets (tests/dashboards/datasets.py) as fixtures of every dashboards test."""

from .datasets import cohort, dataset, weibo  # noqa: F401
