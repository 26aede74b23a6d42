"""Dashboard pages and their exports, for each kind of reader."""

import csv
import io

import pytest
from openpyxl import load_workbook

from .datasets import END, START

PERIOD = f"?start={START}&end={END}"


def login(client, user):
    client.force_login(user)
    return client


def test_manager_sees_the_wechat_page_with_cards_charts_and_tables(client, dataset, manager_user):
    response = login(client, manager_user).get("/dashboards/wechat/" + PERIOD)
    assert response.status_code == 200
    html = response.content.decode()
    for kpi in ("conversations", "response_rate", "first_response_seconds", "resolution_rate"):
        assert f'data-kpi="{kpi}"' in html
    assert 'data-chart="wechat-daily"' in html and "vendor/echarts/echarts.min.js" in html
    assert 'id="table-agents"' in html and 'id="table-daily"' in html
    cards = response.context["data"]["cards"]
    assert [c["value"] for c in cards][:2] == [5, 3 / 5]


def test_pages_show_errors_and_the_default_period_for_bad_dates(client, db, manager_user):
    response = login(client, manager_user).get(
        "/dashboards/wechat/?start=yesterday", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert response.context["errors"] == {"start": "not a date (YYYY-MM-DD): yesterday"}
    assert response.context["period"].length == 30


def test_agent_sees_only_their_wechat_figures(client, dataset, agent_user):
    agent_user.first_name = "王小雅"
    agent_user.save()
    login(client, agent_user)
    response = client.get("/dashboards/wechat/" + PERIOD)
    assert response.status_code == 200 and response.context["own_only"] is True
    assert response.context["data"]["cards"][0]["value"] == 2
    agents = response.context["data"]["tables"][0].rows
    # Agents are named as in the inbox, not by their login.
    assert [(row["agent_id"], row["agent"]) for row in agents] == [(agent_user.pk, "王小雅")]
    assert client.get("/dashboards/weibo/" + PERIOD).status_code == 403
    assert client.get("/dashboards/funnel/export/funnel.csv" + PERIOD).status_code == 403


def test_anonymous_is_sent_to_login(client, db):
    response = client.get("/dashboards/wechat/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_funnel_page(client, db, manager_user):
    response = login(client, manager_user).get("/dashboards/funnel/" + PERIOD)
    assert response.status_code == 200
    assert [s["value"] for s in response.context["data"]["steps"]] == [0, 0, 0, 0]


def test_csv_export_has_chinese_headers_and_the_table_rows(client, dataset, manager_user):
    response = login(client, manager_user).get(
        "/dashboards/wechat/export/agents.csv" + PERIOD, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="wechat-agents-2026-11-01-2026-11-03.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["客服", "会话数", "首次响应中位数（秒）", "解决率", "满意率"]
    assert rows[1:] == [
        ["agent", "2", "88230.0", "1.0", "0.5"],
        # c2 (3600 s), c4 (no response) and wxB's (30 s): median (30 + 3600) / 2
        ["未分配", "3", "1815.0", "0.6666666666666666", "0.5"],
    ]


def test_xlsx_export_opens_with_the_same_rows(client, dataset, manager_user):
    response = login(client, manager_user).get("/dashboards/wechat/export/daily.xlsx" + PERIOD)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 4  # header + three days
    assert [r[1] for r in rows[1:]] == [2, 2, 1]


@pytest.mark.parametrize(
    "url",
    [
        "/dashboards/nope/",
        "/dashboards/wechat/export/nope.csv",
        "/dashboards/wechat/export/agents.pdf",
    ],
)
def test_unknown_pages_tables_and_formats_are_404(client, db, manager_user, url):
    assert login(client, manager_user).get(url).status_code == 404


def test_funnel_page_filters_by_first_touch_channel(client, db, manager_user):
    from tests.crm.factories import CustomerFactory

    from .datasets import local

    CustomerFactory(first_channel="weibo", created_at=local(2026, 11, 2, 10))
    CustomerFactory(first_channel="wechat", created_at=local(2026, 11, 2, 10))
    login(client, manager_user)
    assert client.get("/dashboards/funnel/" + PERIOD).context["data"]["figures"]["customers"] == 2
    weibo = client.get("/dashboards/funnel/" + PERIOD + "&channel=weibo")
    assert weibo.context["data"]["figures"]["customers"] == 1
    assert 'option value="weibo" selected' in weibo.content.decode()


def test_weibo_page_figures_and_daily_table_are_the_kpis(client, weibo, manager_user):
    from dashboards import kpis

    response = login(client, manager_user).get("/dashboards/weibo/" + PERIOD)
    assert response.status_code == 200
    assert response.context["data"]["figures"] == kpis.weibo_kpis(START, END)
    daily = response.context["data"]["tables"][2].rows
    assert [(row["day"], row["followers"], row["posts"]) for row in daily] == [
        ("2026-11-01", 1100, 1),
        ("2026-11-02", 1600, 1),
        ("2026-11-03", 1800, 1),
    ]


def test_an_agents_page_shows_their_own_figures_of_each_day(client, dataset, agent_user):
    from dashboards import kpis

    response = login(client, agent_user).get("/dashboards/wechat/" + PERIOD)
    data = response.context["data"]
    assert data["figures"] == kpis.wechat_kpis(START, END, assignee_id=agent_user.pk)
    daily = data["tables"][1].rows
    assert [(row["day"], row["conversations"]) for row in daily] == [
        ("2026-11-01", 1),
        ("2026-11-02", 1),
        ("2026-11-03", 0),
    ]
    # c1 answered in 60 s (1-5m), c3 after 49 h (>48h).
    assert [(h["bucket"], h["conversations"]) for h in data["histogram"] if h["conversations"]] == [
        ("1-5m", 1),
        (">48h", 1),
    ]
