"""Demo step of the dashboards, run after every other loader: snapshot the KPIs of the demo
history the way the nightly task would have.

The cross-channel journey the funnel is about (Weibo lead → WeChat follower → payment) is not
made up here: devtools.demo.journeys drives it through the handoff links, channel codes and
verified phones, against the sandboxes, before this runs.
"""

from datetime import timedelta

from dashboards.snapshots import CHANNELS, compute_snapshots, today

DAYS = 60


def load(stdout) -> None:
    end = today() - timedelta(days=1)
    start = end - timedelta(days=DAYS - 1)
    rows = sum(compute_snapshots(channel, start, end) for channel in CHANNELS)
    stdout.write(f"dashboards: {rows} KPI snapshot rows for {start}..{end}")


def urls() -> list[tuple[str, str]]:
    return [("数据看板 Dashboards:", "/dashboards/")]
