"""The KPI API: figures, daily series, errors and who may read what."""

import pytest

from dashboards import kpis, snapshots

from .datasets import END, START, conversation, local

URL = "/api/v1/kpis/"
PERIOD = {"start": START.isoformat(), "end": END.isoformat()}


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"start": "2026-13-01"}, {"start": ["not a date (YYYY-MM-DD): 2026-13-01"]}),
        (
            {"start": "2026-11-03", "end": "2026-11-01"},
            {"end": ["end 2026-11-01 is before start 2026-11-03"]},
        ),
        (
            {"start": "2024-01-01", "end": "2026-01-01"},
            {"start": ["the period is longer than 366 days"]},
        ),
        ({"account": "wx-nobody"}, {"account": ["unknown wechat account: wx-nobody"]}),
        ({"by": "week"}, {"by": ["unknown value 'week': use by=day"]}),
    ],
)
def test_bad_parameters_get_400_naming_the_field(role_clients, params, errors):
    response = role_clients["manager"].get(
        URL + "wechat", {"start": "2026-11-01", **params}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json() == errors


def test_wechat_figures_are_the_kpis_of_the_period(dataset, role_clients):
    response = role_clients["manager"].get(URL + "wechat", PERIOD)
    assert response.status_code == 200
    body = response.json()
    assert body == {"account": None, **PERIOD, **kpis.wechat_kpis(START, END)}
    assert body["conversations"] == 5


def test_daily_series(dataset, role_clients):
    body = role_clients["superuser"].get(URL + "wechat", {**PERIOD, "by": "day"}).json()
    assert [(d["day"], d["conversations"]) for d in body["series"]] == [
        ("2026-11-01", 2),
        ("2026-11-02", 2),
        ("2026-11-03", 1),
    ]


def test_an_agent_reads_only_their_own_figures(dataset, role_clients):
    body = role_clients["agent"].get(URL + "wechat", PERIOD).json()
    # c1 and c3 are assigned to the agent: both resolved, ratings 5 and 3.
    assert (body["conversations"], body["resolution_rate"], body["satisfaction_rate"]) == (
        2,
        1.0,
        0.5,
    )
    assert body["subscribed"] == 0  # subscriptions belong to no agent
    assert role_clients["agent"].get(URL + "weibo", PERIOD).status_code == 403
    assert role_clients["agent"].get(URL + "funnel", PERIOD).status_code == 403


@pytest.mark.parametrize("role", ["manager", "marketing", "superuser"])
def test_managers_and_marketing_read_every_kpi(db, role_clients, role):
    for name in ("wechat", "weibo", "funnel"):
        assert role_clients[role].get(URL + name, PERIOD).status_code == 200, name


def test_anonymous_is_refused(db, role_clients):
    for name in ("wechat", "weibo", "funnel"):
        assert role_clients["anonymous"].get(URL + name).status_code == 401


def test_funnel_takes_a_channel_not_an_account(db, role_clients):
    client = role_clients["manager"]
    assert client.get(
        URL + "funnel", {**PERIOD, "account": "wxA"}, HTTP_ACCEPT_LANGUAGE="en"
    ).json() == {"account": ["this report takes no account"]}
    assert client.get(URL + "funnel", {**PERIOD, "channel": "myspace"}).json() == {
        "channel": ["unknown channel 'myspace'"]
    }
    body = client.get(URL + "funnel", {**PERIOD, "channel": "weibo"}).json()
    assert (body["channel"], body["customers"]) == ("weibo", 0)


def test_routes_answer_with_and_without_trailing_slash(db, role_clients):
    for url in (URL + "funnel", URL + "funnel/"):
        assert role_clients["manager"].get(url, PERIOD).status_code == 200, url


def test_an_agents_daily_series_is_their_figures_of_each_day(dataset, role_clients, agent_user):
    body = role_clients["agent"].get(URL + "wechat", {**PERIOD, "by": "day"}).json()
    assert body["series"] == [
        {"day": day.isoformat(), **kpis.wechat_kpis(day, day, assignee_id=agent_user.pk)}
        for day in kpis.days(START, END)
    ]
    # c1 on 11-01 and c3 on 11-02 are the agent's; none on 11-03.
    assert [d["conversations"] for d in body["series"]] == [1, 1, 0]


def test_average_rating_is_the_exact_mean_live_and_from_snapshots(db, role_clients):
    # Ratings 5, 4 and 4: DESIGN.md section 5 defines the mean, 13 / 3, with no rounding (pages
    # round for display; the API gives the figure).
    for hour, rating in ((9, 5), (10, 4), (11, 4)):
        conversation("wxR", local(2026, 11, 1, hour), first=60, resolved=120, rating=rating)
    live = role_clients["manager"].get(URL + "wechat", PERIOD)
    assert live.status_code == 200
    assert (live.json()["ratings"], live.json()["average_rating"]) == (3, 13 / 3)
    assert snapshots.compute_snapshots("wechat", START, END) > 0
    stored = role_clients["manager"].get(URL + "wechat", PERIOD).json()
    assert (stored["ratings"], stored["average_rating"]) == (3, 13 / 3)
