"""The demo: the whole product on this machine, with demo data, until Ctrl-C.

Run it with `make demo` (which sets the platform base URLs to the sandboxes) or
`python -m devtools.demo [--addr HOST:PORT] [--no-serve]`.

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
from types import ModuleType

from django.conf import settings

# In this order: members before the WeChat history (the people who chat are the people who pay),
# dashboards last (its journey and KPI snapshots read what the others loaded).
LOADERS = [
    "devtools.demo.crm",
    "devtools.demo.members",
    "devtools.demo.wechat",
    "devtools.demo.weibo",
    "devtools.demo.dashboards",
]
DEMO_USERS = [
    # username, password, role (None = superuser)
    ("admin", "demo-admin-2026", None),
    ("marketing", "demo-marketing-2026", "marketing"),
    ("agent", "demo-agent-2026", "agent"),
    ("manager", "demo-manager-2026", "manager"),
]


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
    return parser.parse_args(argv)


def main(argv: list[str], stdout=None, stderr=None) -> int:
    """Run the demo as `python -m devtools.demo` does; the exit status."""
    from django.core.management import call_command
    from django.core.management.base import OutputWrapper

    out = OutputWrapper(stdout or sys.stdout)
    options = parse_args(argv)
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
