"""Formatting of KPI values in the dashboard templates."""

from datetime import date, datetime, timedelta

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key, "")


@register.filter
def split_csv(value: str) -> list[str]:
    return value.split(",")


@register.simple_tag
def days_ago(today: date, n: str) -> str:
    return (today - timedelta(days=int(n) - 1)).isoformat()


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


@register.filter
def kpi_value(card) -> str:
    value = card["value"]
    if value is None:
        return "—"
    if card["kind"] == "rate":
        return f"{value * 100:.1f}%"
    if card["kind"] == "seconds":
        return duration(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


@register.filter
def cell(row, key):
    value = row.get(key)
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float) and (
        "rate" in key or "attainment" in key or key in ("share", "positive", "neutral", "negative")
    ):
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return value
