"""The demo: the whole product on this machine, with demo data, until Ctrl-C.

Run it with `make demo` (which sets the platform base URLs to the sandboxes) or
`python -m devtools.demo [--addr HOST:PORT] [--no-serve]`. It is not a `manage.py` command, so a
production install of the product has no command that creates a superuser with a published
password; and it refuses to run (`check_target`):
- with production settings (`settings.PRODUCTION`: DEBUG off and a real SECRET_KEY), always;
- against any database but its own SQLite file (`var/crm.sqlite3`, the default with no
  DATABASE_URL), unless given `--i-know-this-is-not-the-demo-database`.

Steps: migrate; create the demo users; start the platform sandboxes and the web server; load
each app's demo data through the real code (some of it over HTTP through the real webhooks);
print the URLs and logins; keep running.

Each loader in `LOADERS` is a module of this package with:
- `services() -> list[list[str]]`: commands to run in the background (sandboxes);
- `load(stdout) -> None`: load its demo data; must be safe to run again on the same database;
- `after_start(stdout) -> None`: start ongoing activity (a stream of incoming messages);
- `urls() -> list[tuple[str, str]]`: (label, path) lines to print.

This module imports no models at import time: `python -m devtools.demo` imports it before
Django is set up.
"""

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType

from django.conf import settings

# In this order: members before the WeChat history (the people who chat are the people who pay),
# the marketing journeys before the cross-channel crossings (whose channel-code follows enter the
# welcome journey), the crossings once both channels and the merchant exist, dashboards last (its
# KPI snapshots read what the others loaded).
LOADERS = [
    "devtools.demo.crm",
    "devtools.demo.members",
    "devtools.demo.wechat",
    "devtools.demo.wechat_marketing",
    "devtools.demo.wechat_templates",
    "devtools.demo.media",
    "devtools.demo.teams",
    "devtools.demo.weibo",
    "devtools.demo.journeys",
    "devtools.demo.crossings",
    "devtools.demo.dashboards",
]
DEMO_USERS = [
    # username, password, role (None = superuser)
    ("admin", "demo-admin-2026", None),
    ("marketing", "demo-marketing-2026", "marketing"),
    ("agent", "demo-agent-2026", "agent"),
    ("manager", "demo-manager-2026", "manager"),
]
OTHER_DATABASE_FLAG = "--i-know-this-is-not-the-demo-database"


class DemoRefused(Exception):
    """The demo will not run against this database or with these settings (the message says why)."""


def demo_database() -> Path:
    """The demo's own SQLite file: the database the settings choose when DATABASE_URL is unset."""
    return Path(settings.BASE_DIR) / "var" / "crm.sqlite3"


def _describe(db: dict) -> str:
    if db["ENGINE"].endswith("sqlite3"):
        return f"the SQLite file {db['NAME']}"
    host = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 'default port'}"
    return f"the {db['ENGINE'].rsplit('.', 1)[-1]} database {db['NAME']} on {host}"


def check_target(*, other_database_ok: bool = False) -> None:
    """Raise DemoRefused unless the demo may write to the configured default database.

    The demo creates a superuser whose password is in the README, and loads hundreds of made-up
    customers: with production settings it never runs, flag or not; elsewhere it runs on its own
    SQLite file, or on another database only when the caller says so (`other_database_ok`, the
    `--i-know-this-is-not-the-demo-database` flag). Reads settings only: nothing is connected to
    or written before this passes.
    """
    if settings.PRODUCTION:
        raise DemoRefused(
            "The demo does not run with production settings (DEBUG off and a real SECRET_KEY): "
            "it creates a superuser whose password is published."
        )
    from django.db import connections

    db = connections["default"].settings_dict
    if db["ENGINE"].endswith("sqlite3") and Path(db["NAME"]).resolve() == (
        demo_database().resolve()
    ):
        return
    if not other_database_ok:
        raise DemoRefused(
            f"The demo loads made-up data and a superuser with a published password into "
            f"{_describe(db)}, which is not the demo's own database ({demo_database()}). "
            f"Unset DATABASE_URL to use that, or pass {OTHER_DATABASE_FLAG} if this database "
            "is a throwaway one."
        )


def loaders() -> list[ModuleType]:
    return [importlib.import_module(name) for name in LOADERS]


def ensure_demo_users() -> None:
    from django.contrib.auth.models import Group, User

    for username, password, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": role is None}
        )
        if created:
            user.set_password(password)
            user.save()
        if role:
            user.groups.add(Group.objects.get(name=role))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo",
        description="Run the demo: sandboxes, web server and demo data, until Ctrl-C.",
    )
    parser.add_argument("--addr", default=os.environ.get("DEMO_ADDR", "127.0.0.1:8000"))
    parser.add_argument(
        "--no-serve", action="store_true", help="load the demo data and exit (used by tests)"
    )
    parser.add_argument(
        OTHER_DATABASE_FLAG,
        dest="other_database_ok",
        action="store_true",
        help="load the demo into the configured database although it is not the demo's own "
        "SQLite file (never with production settings)",
    )
    return parser.parse_args(argv)


def main(argv: list[str], stdout=None, stderr=None) -> int:
    """Run the demo as `python -m devtools.demo` does; the exit status: 0, or 2 when refused."""
    from django.core.management import call_command
    from django.core.management.base import OutputWrapper

    out = OutputWrapper(stdout or sys.stdout)
    options = parse_args(argv)
    try:
        check_target(other_database_ok=options.other_database_ok)
    except DemoRefused as refusal:
        OutputWrapper(stderr or sys.stderr).write(str(refusal))
        return 2
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    ensure_demo_users()
    modules = loaders()
    children: list[subprocess.Popen] = []
    try:
        if not options.no_serve:
            for module in modules:
                for argv_ in getattr(module, "services", lambda: [])():
                    children.append(subprocess.Popen(argv_))
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "manage.py",
                        "runserver",
                        "--noreload",
                        "--insecure",
                        options.addr,
                    ],
                    cwd=settings.BASE_DIR,
                )
            )
            wait_for_server(f"http://{options.addr}/healthz")
        for module in modules:
            if hasattr(module, "load"):
                module.load(out)
        if options.no_serve:
            return 0
        for module in modules:
            if hasattr(module, "after_start"):
                module.after_start(out)
        out.write(banner(options.addr, modules))
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT, signal.SIGTERM])
        signal.sigwait([signal.SIGINT, signal.SIGTERM])
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


def wait_for_server(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310  loopback only
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the web server did not answer at {url} within 30 s")


def banner(addr: str, modules: list[ModuleType]) -> str:
    base = f"http://{addr}"
    lines = ["", "Social CRM demo is running. 演示环境已启动。", ""]
    lines.append(f"  管理后台 Admin:          {base}/admin/")
    for module in modules:
        for label, path in getattr(module, "urls", lambda: [])():
            url = path if path.startswith("http") else base + path  # sandboxes: own port
            lines.append(f"  {label:<24}{url}")
    lines.append(f"  API docs:                {base}/api/docs/")
    lines.append(f"  Health:                  {base}/healthz")
    lines.append("")
    lines.append("  Logins (username / password):")
    for username, password, role in DEMO_USERS:
        lines.append(f"    {username:<10} / {password:<22} {role or 'superuser'}")
    lines += ["", "  Ctrl-C stops everything.", ""]
    return "\n".join(lines)
