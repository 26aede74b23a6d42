"""Manager dashboards: WeChat service, Weibo marketing and the cross-channel funnel.

Thin views: `reports` builds the data, `exports` writes tables. Managers, marketing and
superusers see every figure; an agent sees the WeChat page with only their own figures.
"""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone

from crm.models import Channel

from . import exports, reports
from .definitions import CHART_LABELS, DEFINITIONS
from .periods import Period, PeriodError, accounts, parse_period, scope


def _audience(request, name: str) -> int | None:
    seen = scope(request.user)
    if seen == "all":
        return None
    if seen == "own" and reports.PAGES[name][2]:
        return request.user.pk
    raise PermissionDenied


@staff_member_required
def index(request):
    return redirect("dashboards:page", name="wechat" if scope(request.user) else "weibo")


def _period(request, name: str) -> tuple[Period, dict[str, str]]:
    channel = name if name in ("wechat", "weibo") else None
    try:
        return parse_period(request.GET, channel), {}
    except PeriodError as exc:
        # Show the default period with the errors, rather than a blank page.
        return parse_period({}, None), exc.errors


def _channel(request, name: str) -> str | None:
    """The funnel's first-touch channel filter (`?channel=weibo`), if valid."""
    value = request.GET.get("channel") or None
    return value if name == "funnel" and value in Channel.values else None


@staff_member_required
def page(request, name: str):
    if name not in reports.PAGES:
        raise Http404
    assignee = _audience(request, name)
    period, errors = _period(request, name)
    title, build, _agents = reports.PAGES[name]
    channel = _channel(request, name)
    data = build(period, assignee, channel) if channel else build(period, assignee)
    pages = [
        (key, label)
        for key, (label, _b, for_agents) in reports.PAGES.items()
        if assignee is None or for_agents
    ]
    return render(
        request,
        f"dashboards/{name}.html",
        {
            **admin.site.each_context(request),
            "title": title,
            "name": name,
            "pages": pages,
            "period": period,
            "errors": errors,
            "own_only": assignee is not None,
            "accounts": accounts(name),
            "channels": Channel.choices if name == "funnel" else [],
            "channel": channel,
            "data": data,
            "definitions": DEFINITIONS,
            "chart_labels": {key: str(label) for key, label in CHART_LABELS.items()},
            "query": request.GET.urlencode(),
            "today": timezone.localdate(),
        },
    )


@staff_member_required
def export(request, name: str, table: str, fmt: str):
    if name not in reports.PAGES or fmt not in exports.CONTENT_TYPES:
        raise Http404
    assignee = _audience(request, name)
    period, errors = _period(request, name)
    if errors:
        return HttpResponseBadRequest("; ".join(f"{k}: {v}" for k, v in errors.items()))
    build = reports.PAGES[name][1]
    channel = _channel(request, name)
    data = build(period, assignee, channel) if channel else build(period, assignee)
    found = next((t for t in data["tables"] if t.name == table), None)
    if found is None:
        raise Http404
    filename = f"{name}-{table}-{period.start}-{period.end}"
    return exports.export(found, fmt, filename)
