"""KPI computation: the definitions of DESIGN.md section 5, computed with pandas.

This is the only package that imports pandas: `wechat`, `weibo` and `funnel` hold one family of
figures each, `common` what they share. Every snapshotted figure is computed in two steps:

1. `*_day_parts`: from the raw tables, the *sufficient statistics* of each local day and account
   (counts, and the sorted list of durations so that medians and percentiles stay exact when days
   are combined). These are what the nightly job stores in KpiSnapshot.
2. `*_figures`: from the parts of any set of days, the published figures.

Period = local dates `start..end` inclusive, in Asia/Shanghai. Rates are fractions 0..1 and
`None` when their denominator is 0; times are in seconds; `{median, p90, mean}` use linear
interpolation between closest ranks, as PostgreSQL's `percentile_cont` does.

The names below are the package's interface (`from dashboards import kpis; kpis.wechat_kpis`).
"""

from .common import LOCAL, days, local_bounds, rate, seconds_summary
from .funnel import funnel, with_jit_off
from .sla import sla_attainment, sla_frame
from .wechat import (
    HISTOGRAM_LABELS,
    RESPONSE_WINDOW_SECONDS,
    wechat_agent_rows,
    wechat_agent_table,
    wechat_conversation_frame,
    wechat_day_parts,
    wechat_figures,
    wechat_histogram_rows,
    wechat_kpis,
    wechat_label_counts,
    wechat_response_histogram,
)
from .weibo import (
    SENTIMENTS,
    follower_series,
    influence,
    weibo_day_parts,
    weibo_figures,
    weibo_kpis,
    weibo_period_figures,
    weibo_series,
    weibo_top_kols,
    weibo_top_posts,
)

__all__ = [
    "sla_attainment",
    "sla_frame",
    "HISTOGRAM_LABELS",
    "LOCAL",
    "RESPONSE_WINDOW_SECONDS",
    "SENTIMENTS",
    "days",
    "follower_series",
    "funnel",
    "influence",
    "local_bounds",
    "rate",
    "seconds_summary",
    "wechat_agent_rows",
    "wechat_agent_table",
    "wechat_conversation_frame",
    "wechat_day_parts",
    "wechat_figures",
    "wechat_histogram_rows",
    "wechat_kpis",
    "wechat_label_counts",
    "wechat_response_histogram",
    "weibo_day_parts",
    "weibo_figures",
    "weibo_kpis",
    "weibo_period_figures",
    "weibo_series",
    "weibo_top_kols",
    "weibo_top_posts",
    "with_jit_off",
]
