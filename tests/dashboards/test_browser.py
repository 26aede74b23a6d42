"""A manager opens every dashboard page in a real browser: the charts render with data."""

import pytest

from tests.conftest import admin_login

from .datasets import END, START

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = {"wechat": 2, "weibo": 3, "funnel": 1}


def test_every_dashboard_renders_its_charts(
    live_server,
    browser_page,
    dataset,
    weibo,  # noqa: F811  the fixture imported above
    manager_user,
):
    page = browser_page
    admin_login(page, live_server.url, "manager", "pw-manager")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    for name, charts in CHARTS.items():
        page.goto(f"{live_server.url}/dashboards/{name}/?start={START}&end={END}")
        page.wait_for_selector(f".dash-chart[data-rendered='1'] >> nth={charts - 1}")
        assert page.locator(".dash-chart[data-rendered='1'] canvas").count() == charts, name
    assert errors == []
    # The WeChat cards show the period's figures, in Chinese by default.
    page.goto(f"{live_server.url}/dashboards/wechat/?start={START}&end={END}")
    card = page.locator(".dash-card[data-kpi=conversations]")
    assert card.locator(".value").inner_text() == "5"
    assert "会话" in card.get_attribute("title")
    with page.expect_download() as download:
        page.locator("#table-agents >> text=Excel").click()
    assert download.value.suggested_filename == "wechat-agents-2026-11-01-2026-11-03.xlsx"
