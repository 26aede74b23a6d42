"""The live inbox's visibility check on SQLite, the database `make demo` runs on: its one
statement was PostgreSQL's (`unnest(%s::bigint[])`), so on the demo every socket of an agent
who does not see every team died at its first event and the page fell back to polling. The
suite runs on PostgreSQL; this runs the check in a child process on a fresh SQLite file."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json
from django.contrib.auth.models import Group, User
from crm.live import VisibilityCheck
from crm.models import Conversation, Customer, Team, TeamMembership

presales, aftersales = Team.objects.create(name="售前"), Team.objects.create(name="售后")
agent = User.objects.create_user("a", is_staff=True)
agent.groups.add(Group.objects.get(name="agent"))
manager = User.objects.create_user("m", is_staff=True)
manager.groups.add(Group.objects.get(name="manager"))
TeamMembership.objects.create(team=presales, user=agent)
ids = {}
for name, team in (("sale", presales), ("after", aftersales), ("none", None)):
    ids[name] = Conversation.objects.create(
        channel="wechat", account="wx-lite", external_user=name,
        customer=Customer.objects.create(name=name), team=team,
    ).pk
answers = VisibilityCheck([agent, manager])(ids.values())
names = {pk: name for name, pk in ids.items()}
print(json.dumps({u: sorted(names[pk] for pk in answers[p]) for u, p in (("agent", agent.pk), ("manager", manager.pk))}))
"""


def test_the_sockets_visibility_check_runs_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lite.sqlite3'}",
        "CELERY_TASK_ALWAYS_EAGER": "1",
    }
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    shell = subprocess.run(
        [python, "manage.py", "shell", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr[-2000:]
    answers = json.loads(shell.stdout.strip().splitlines()[-1])
    # The agent of 售前: their team's and the team-less; the manager: every team's.
    assert answers == {"agent": ["none", "sale"], "manager": ["after", "none", "sale"]}
