"""KPI endpoints of DESIGN.md section 4: `/api/v1/kpis/wechat|weibo|funnel`.

`?account=` (appid or uid; omitted = all), `?start=` and `?end=` (inclusive local dates),
`?by=day` for a daily series. Managers, marketing and superusers read every figure; an agent
reads only their own WeChat service figures (conversations assigned to them).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.models import Channel

from .. import kpis, snapshots
from ..periods import PeriodError, parse_period, scope

PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="first local day (inclusive)"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="last local day (inclusive)"),
    OpenApiParameter("account", str, description="appid or Weibo uid; omitted = all"),
    OpenApiParameter("by", str, enum=["day"], description="`day` for a daily series"),
]


class KpiView(APIView):
    permission_classes = [IsAuthenticated]
    channel = ""
    agents_allowed = False

    def period(self, request):
        try:
            period = parse_period(request.query_params, self.channel)
        except PeriodError as exc:
            raise ValidationError({field: [message] for field, message in exc.errors.items()})
        by = request.query_params.get("by")
        if by not in (None, "", "day"):
            raise ValidationError({"by": [f"unknown value {by!r}: use by=day"]})
        return period, by == "day"

    def audience(self, request) -> int | None:
        """None for every figure; an agent's user id for their own figures."""
        seen = scope(request.user)
        if seen == "all":
            return None
        if seen == "own" and self.agents_allowed:
            return request.user.pk
        raise PermissionDenied("these figures are for managers and marketing")

    def envelope(self, period, body) -> dict:
        return {
            "account": period.account,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            **body,
        }


class WeChatKpis(KpiView):
    """WeChat service KPIs (DESIGN.md section 5); an agent gets their own figures."""

    channel = "wechat"
    agents_allowed = True

    @extend_schema(parameters=PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request):
        assignee = self.audience(request)
        period, by_day = self.period(request)
        if assignee is None:
            read = snapshots.series if by_day else snapshots.figures
            result = read("wechat", period.start, period.end, period.account)
        elif by_day:
            # The agent's own day parts, computed live in one pass over the period.
            parts = kpis.wechat_day_parts(period.start, period.end, period.account, assignee)
            result = snapshots.series(
                "wechat", period.start, period.end, period.account, parts=parts
            )
        else:
            result = kpis.wechat_kpis(period.start, period.end, period.account, assignee)
        body = {"series": result} if by_day else result
        return Response(self.envelope(period, body))


class WeiboKpis(KpiView):
    """Weibo KPIs (DESIGN.md section 5)."""

    channel = "weibo"

    @extend_schema(parameters=PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request):
        self.audience(request)
        period, by_day = self.period(request)
        read = snapshots.series if by_day else snapshots.figures
        result = read("weibo", period.start, period.end, period.account)
        body = {"series": result} if by_day else result
        return Response(self.envelope(period, body))


class FunnelKpis(KpiView):
    """The cross-channel funnel of the customers first seen in the period. It takes no
    `account`; `?channel=weibo|wechat|...` keeps only customers first touched there."""

    channel = "funnel"

    @extend_schema(
        parameters=PARAMETERS[:2] + [OpenApiParameter("channel", str)] + PARAMETERS[3:],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        self.audience(request)
        period, by_day = self.period(request)
        channel = request.query_params.get("channel") or None
        if channel and channel not in Channel.values:
            raise ValidationError({"channel": [f"unknown channel {channel!r}"]})
        if by_day:
            body = {
                "series": [
                    {"day": day.isoformat(), **kpis.funnel(day, day, channel)}
                    for day in kpis.days(period.start, period.end)
                ]
            }
        else:
            body = kpis.funnel(period.start, period.end, channel)
        return Response({**self.envelope(period, body), "channel": channel})
