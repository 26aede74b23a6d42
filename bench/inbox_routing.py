"""Teams, routing and the inbox list at scale (issue #20), each against bare SQL in the same run.

Setup (added to the generated data; this benchmark runs last): teams 售前 (default) and 售后
with 15 online agents each, three routing rules (keyword, tag, default), an SLA policy with
business hours, and 100,000 open WeChat conversations split between the teams, assigned to
their agents, each with an SLA clock.

- routing decision per new conversation (crm.inbox.routing.route_new_conversation: the rules,
  the team, the SLA clock in business time, the agent with the fewest open conversations under
  their maximum, assignment through assign_conversation): median and p95 over 200 new
  conversations, goal < 5 ms; baseline: the same decision as three bare SQL statements (the
  rules; the agent with the fewest open conversations counted up to their maximum, marked as
  assigned to in the same statement, as the routing does; the conversation's update). Online agents hold 0-20 open conversations under a maximum of 50; 150 offline
  agents per team (the previous shift) hold the rest.
- the inbox list (`GET /inbox/`, 50 rows with SLA badges, the three tab counts) as a 售前 agent
  who sees their team's 50,000 open conversations: p95 of 20, goal < 150 ms; baseline: the bare
  SQL of the same page (the page's rows, and the three tab counts in one statement: the list's
  own count is the "all" tab's). Both ask for the inbox's kinds (service, complaint) as the page
  does, so both may use its partial indexes.
"""

from __future__ import annotations

import random
from datetime import time as clock
from datetime import timedelta

from .harness import Result, median, p95, timed

OPEN_CONVERSATIONS = 100_000
AGENTS_PER_TEAM = 15
NEW_CONVERSATIONS = 200
PAGE_REPEAT = 20
MAX_OPEN = 50

BARE_RULES = """
SELECT r.id, r.kind, r.value, r.team_id FROM crm_routingrule r
JOIN crm_team t ON t.id = r.team_id AND t.active
WHERE r.active AND r.account IN (%(account)s, '') ORDER BY r.position, r.id
"""
# The routing's own pick, marking the member chosen (the round robin's last assignment).
BARE_PICK_AND_MARK = """
UPDATE crm_teammembership SET last_assigned_at = %(now)s
FROM ({pick}) AS best
WHERE crm_teammembership.id = best.id
RETURNING crm_teammembership.user_id
"""
BARE_ASSIGN = (
    "UPDATE crm_conversation SET team_id = %(team)s, assignee_id = %(user)s WHERE id = %(id)s"
)

BARE_PAGE = """
SELECT c.id, c.channel, c.account, c.status, c.last_message_at, c.last_inbound_at,
       cu.name, u.username, t.name, s.first_response_due, s.resolution_due
FROM crm_conversation c
JOIN crm_customer cu ON cu.id = c.customer_id
LEFT JOIN auth_user u ON u.id = c.assignee_id
LEFT JOIN crm_team t ON t.id = c.team_id
LEFT JOIN crm_slaclock s ON s.conversation_id = c.id
WHERE c.channel IN ('wechat', 'weibo') AND c.kind IN ('service', 'complaint')
  AND c.status IN ('open', 'pending')
  AND (c.team_id IS NULL OR c.team_id IN (SELECT team_id FROM crm_teammembership
                                          WHERE user_id = %(user)s) OR c.assignee_id = %(user)s)
ORDER BY c.last_inbound_at ASC NULLS LAST, c.opened_at, c.id LIMIT 50
"""
# The three tab counts in one statement; the list's own count (the paginator's) is the "all"
# tab's, so the page needs no fourth.
BARE_COUNTS = """
SELECT COUNT(1) FILTER (WHERE c.assignee_id = %(user)s), COUNT(1) FILTER (WHERE c.assignee_id IS NULL),
       COUNT(1)
FROM crm_conversation c
WHERE c.channel IN ('wechat', 'weibo') AND c.kind IN ('service', 'complaint')
  AND c.status IN ('open', 'pending')
  AND (c.team_id IS NULL OR c.team_id IN (SELECT team_id FROM crm_teammembership
                                          WHERE user_id = %(user)s) OR c.assignee_id = %(user)s)
"""


def _setup(connection):
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from crm.inbox import set_presence
    from crm.models import BusinessHours, RoutingRule, SlaPolicy, Tag, Team, TeamMembership

    presales = Team.objects.create(name="售前", default=True)
    aftersales = Team.objects.create(name="售后")
    RoutingRule.objects.create(kind="keyword", value="退货", team=aftersales, position=1)
    RoutingRule.objects.create(kind="tag", value="投诉", team=aftersales, position=2)
    RoutingRule.objects.create(kind="default", team=presales, position=9)
    Tag.objects.get_or_create(name="投诉")
    for weekday in range(7):
        BusinessHours.objects.create(weekday=weekday, start=clock(8), end=clock(0))
    SlaPolicy.objects.create(
        name="标准", first_response_minutes=30, next_response_minutes=10, resolution_hours=24
    )
    agent_group = Group.objects.get(name="agent")

    def staff(name):
        user = User(username=name, is_staff=True)
        user.set_unusable_password()
        return user

    # Online now: 15 per team with room under their maximum of 50; the previous shift (150 per
    # team, offline) holds the rest of the open conversations.
    online = {presales.pk: [], aftersales.pk: []}
    offline = {presales.pk: [], aftersales.pk: []}
    for team in (presales, aftersales):
        for pool, size, prefix in ((online, AGENTS_PER_TEAM, "on"), (offline, 150, "off")):
            users = User.objects.bulk_create(
                [staff(f"bench-{prefix}-{team.pk}-{i}") for i in range(size)]
            )
            agent_group.user_set.add(*users)
            TeamMembership.objects.bulk_create(
                [TeamMembership(team=team, user=u, max_open=MAX_OPEN) for u in users]
            )
            pool[team.pk] += [u.pk for u in users]
    for ids in online.values():
        for user in User.objects.filter(pk__in=ids):
            set_presence(user, "online")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM crm_customer ORDER BY id LIMIT 100000")
        customers = [r[0] for r in cursor.fetchall()]
        rng = random.Random(20)
        held = [(team, user) for team, ids in online.items() for user in ids]
        owners = [owner for team, user in held for owner in [(team, user)] * rng.randint(0, 20)]
        rows = []
        for n in range(OPEN_CONVERSATIONS):
            if n < len(owners):
                team, user = owners[n]
            else:
                team = presales.pk if n % 2 == 0 else aftersales.pk
                user = offline[team][n % len(offline[team])]
            opened = now - timedelta(minutes=rng.randint(1, 60 * 24 * 5))
            rows.append(
                (
                    customers[n % len(customers)],
                    f"bench-open-{n}",
                    team,
                    user,
                    opened,
                    opened + timedelta(minutes=rng.randint(0, 60)),
                )
            )
        from psycopg2.extras import execute_values

        execute_values(
            cursor,
            "INSERT INTO crm_conversation (channel, account, external_user, customer_id, kind,"
            " status, team_id, assignee_id, opened_at, last_inbound_at, last_message_at,"
            " subject_id) SELECT 'wechat', 'wxbenchrouting', v.eu, v.cu, 'service', 'open',"
            " v.team, v.agent, v.opened, v.inbound, v.inbound, '' FROM (VALUES %s)"
            " AS v(cu, eu, team, agent, opened, inbound)",
            rows,
            template="(%s, %s, %s, %s::integer, %s::timestamptz, %s::timestamptz)",
            page_size=5000,
            fetch=False,
        )
        cursor.execute(
            "INSERT INTO crm_slaclock (conversation_id, first_response_due, first_response_warn,"
            " resolution_due, resolution_warn, next_met, next_breached)"
            " SELECT id, opened_at + interval '30 minutes', opened_at + interval '24 minutes',"
            " opened_at + interval '24 hours', opened_at + interval '19 hours', 0, 0"
            " FROM crm_conversation WHERE account = 'wxbenchrouting'"
        )
    # Index-only counts need the visibility map, as on a table autovacuum keeps.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE crm_conversation")
        cursor.execute("VACUUM ANALYZE crm_slaclock")
    return presales, aftersales, User.objects.get(pk=online[presales.pk][0])


def run(scale) -> list[Result]:
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from crm.inbox import route_new_conversation
    from crm.inbox.routing import PICK_SQL
    from crm.models import Conversation, Customer
    from crm.models.teams import presence_ttl

    presales, aftersales, agent = _setup(connection)

    def keep_online():  # the setup takes longer than the presence TTL
        from crm.inbox import set_presence
        from crm.models import AgentPresence

        for presence in AgentPresence.objects.select_related("user"):
            set_presence(presence.user, "online")

    keep_online()
    customer = Customer.objects.order_by("id").first()
    serial = iter(range(10**6))
    texts = ["这款有货吗", "我要退货", "你好", "请问发什么快递"]

    def new_conversation():
        n = next(serial)
        return Conversation.objects.create(
            channel="wechat",
            account="wxbenchrouting",
            external_user=f"bench-new-{n}",
            customer=customer,
        ), texts[n % len(texts)]

    def ours_once():
        conversation, text = new_conversation()
        started = timezone.now()
        import time

        t = time.perf_counter()
        route_new_conversation(conversation, content=text)
        return time.perf_counter() - t, conversation, started

    routed = [ours_once() for _ in range(NEW_CONVERSATIONS + 5)][5:]
    ours = [t for t, _c, _s in routed]
    teams = {c.pk: c for _t, c, _s in routed}
    placed = Conversation.objects.filter(pk__in=list(teams), assignee__isnull=False).count()
    assert placed == NEW_CONVERSATIONS, placed

    def bare_route(conversation, text):
        with connection.cursor() as cursor:
            cursor.execute(BARE_RULES, {"account": "wxbenchrouting"})
            rules = cursor.fetchall()
            team = next((r[3] for r in rules if r[1] == "keyword" and r[2] in text), presales.pk)
            now = timezone.now()
            cursor.execute(
                BARE_PICK_AND_MARK.format(pick=PICK_SQL),
                {
                    "active": ["open", "pending"],
                    "team": team,
                    "online": "online",
                    "since": now - presence_ttl(),
                    "now": now,
                },
            )
            user_id = cursor.fetchone()[0]
            cursor.execute(BARE_ASSIGN, {"team": team, "user": user_id, "id": conversation.pk})

    def bare_once():
        import time

        conversation, text = new_conversation()
        t = time.perf_counter()
        bare_route(conversation, text)
        return time.perf_counter() - t

    keep_online()
    bare = [bare_once() for _ in range(NEW_CONVERSATIONS + 5)][5:]

    # As production routes: crm.inbox.receiving calls the routing inside the transaction that
    # opened the conversation, whose commit is paid whether it is routed or not. Timed from the
    # routing's first statement to its last, the commit left out, for ours and the bare SQL.
    from django.db import transaction

    def in_opening_transaction(route):
        import time

        with transaction.atomic():
            conversation, text = new_conversation()
            t = time.perf_counter()
            route(conversation, text)
            return time.perf_counter() - t

    keep_online()
    ours_in = [
        in_opening_transaction(lambda c, text: route_new_conversation(c, content=text))
        for _ in range(NEW_CONVERSATIONS + 5)
    ][5:]
    bare_in = [in_opening_transaction(bare_route) for _ in range(NEW_CONVERSATIONS + 5)][5:]

    page = Client()
    page.force_login(agent)

    def get_list():
        response = page.get("/inbox/")
        assert response.status_code == 200, response.status_code
        return response

    html = get_list().content.decode()
    assert html.count('class="conversation-row"') == 50
    list_times = timed(get_list, repeat=PAGE_REPEAT)

    def bare_page():
        with connection.cursor() as cursor:
            cursor.execute(BARE_PAGE, {"user": agent.pk})
            cursor.fetchall()
            cursor.execute(BARE_COUNTS, {"user": agent.pk})
            cursor.fetchall()

    bare_times = timed(bare_page, repeat=PAGE_REPEAT)
    visible = Conversation.objects.filter(team=presales, status="open").count()
    return [
        Result(
            "routing decision per new conversation, median",
            median(ours) * 1000,
            "ms",
            median(bare) * 1000,
            "bare SQL: rules, least-loaded agent (same capped count) marked, update",
            goal="abs:<5",
            notes=f"p95 {p95(ours) * 1000:.2f} ms (bare {p95(bare) * 1000:.2f} ms); "
            f"{2 * AGENTS_PER_TEAM} online agents, {OPEN_CONVERSATIONS:,} open conversations; "
            "includes the SLA clock in business time",
        ),
        Result(
            "routing inside the transaction that opened the conversation (as receiving calls "
            "it), median",
            median(ours_in) * 1000,
            "ms",
            median(bare_in) * 1000,
            "the same bare SQL in that transaction",
            goal="abs:<5",
            notes=f"p95 {p95(ours_in) * 1000:.2f} ms (bare {p95(bare_in) * 1000:.2f} ms); the "
            "opening transaction's commit, paid with or without routing, is not counted",
        ),
        Result(
            "inbox list as a team agent, 100k open conversations, p95",
            p95(list_times) * 1000,
            "ms",
            p95(bare_times) * 1000,
            "bare SQL of the page (rows + the tab counts)",
            goal="abs:<150",
            notes=f"the agent's team holds {visible:,}; 50 rows with SLA badges; "
            f"median {median(list_times) * 1000:.1f} ms",
        ),
    ]
