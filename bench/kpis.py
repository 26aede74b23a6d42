"""WeChat KPIs for 30 days (dashboards.kpis, pandas) against one hand-written SQL aggregate of
the same figures over the same rows, in the same run. Goal: at most 1.5 times its time."""

from datetime import timedelta

from .harness import Result, median, timed

SQL = """
WITH cohort AS (
    SELECT opened_at, first_response_at, resolved_at, status, rating,
           EXTRACT(EPOCH FROM first_response_at - opened_at) AS fr,
           CASE WHEN status = 'resolved' THEN EXTRACT(EPOCH FROM resolved_at - opened_at) END AS rs
    FROM crm_conversation
    WHERE channel = 'wechat' AND kind = 'service' AND opened_at >= %(low)s AND opened_at < %(high)s
)
SELECT
    (SELECT COUNT(*) FROM cohort),
    (SELECT COUNT(*) FROM cohort WHERE fr <= 172800),
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY fr) FROM cohort WHERE fr IS NOT NULL),
    (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY fr) FROM cohort WHERE fr IS NOT NULL),
    (SELECT AVG(fr) FROM cohort),
    (SELECT COUNT(*) FROM cohort WHERE rs IS NOT NULL),
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY rs) FROM cohort WHERE rs IS NOT NULL),
    (SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY rs) FROM cohort WHERE rs IS NOT NULL),
    (SELECT COUNT(*) FILTER (WHERE rating >= 4) FROM cohort),
    (SELECT COUNT(rating) FROM cohort),
    (SELECT COUNT(*) FILTER (WHERE direction = 'in') FROM crm_message
      WHERE channel = 'wechat' AND sent_at >= %(low)s AND sent_at < %(high)s
        AND msg_type <> 'event' AND delivery_status NOT IN ('failed', 'queued')),
    (SELECT COUNT(*) FILTER (WHERE direction = 'out') FROM crm_message
      WHERE channel = 'wechat' AND sent_at >= %(low)s AND sent_at < %(high)s
        AND msg_type <> 'event' AND delivery_status NOT IN ('failed', 'queued')),
    (SELECT COUNT(*) FILTER (WHERE kind = 'subscribe') FROM crm_interaction
      WHERE channel = 'wechat' AND kind IN ('subscribe', 'unsubscribe')
        AND occurred_at >= %(low)s AND occurred_at < %(high)s)
"""


def run(scale) -> list[Result]:
    from django.db import connection
    from django.utils import timezone

    from dashboards import kpis

    end = timezone.localdate() - timedelta(days=1)
    start = end - timedelta(days=29)
    low, high = kpis.local_bounds(start, end)

    def sql():
        with connection.cursor() as cursor:
            cursor.execute(SQL, {"low": low, "high": high})
            return cursor.fetchone()

    figures = kpis.wechat_kpis(start, end)
    row = sql()
    assert figures["conversations"] == row[0], (figures["conversations"], row[0])
    assert figures["messages_in"] == row[10], (figures["messages_in"], row[10])
    ours = median(timed(lambda: kpis.wechat_kpis(start, end), repeat=5))
    baseline = median(timed(sql, repeat=5))
    return [
        Result(
            "WeChat KPIs, 30 days (pandas)",
            ours * 1000,
            "ms",
            baseline * 1000,
            "one SQL aggregate",
            goal="ratio:<=1.5",
            notes=f"{figures['conversations']:,} conversations, {figures['messages_in']:,} messages in",
        )
    ]
