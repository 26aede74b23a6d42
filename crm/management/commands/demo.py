"""`manage.py demo`: the whole product on this machine, with demo data, until Ctrl-C.

Steps: migrate; create the demo users; start each app's background services (platform sandboxes)
and the web server; load each app's demo data through the real code (some of it over HTTP through
the real webhooks); print the URLs and logins; keep running.

Each project app may have a `demo` module (found by name, so crm imports none of them) with:
- `services() -> list[list[str]]`: commands to run in the background (sandboxes);
- `load(stdout) -> None`: load its demo data; must be safe to run again on the same database;
- `after_start(stdout) -> None`: start ongoing activity (a stream of incoming messages);
- `urls() -> list[tuple[str, str]]`: (label, path) lines to print.
"""

import importlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand

PROJECT_APPS = ["crm", "members", "channels_wechat", "channels_weibo", "dashboards"]
DEMO_USERS = [
    # username, password, role (None = superuser)
    ("admin", "demo-admin-2026", None),
    ("marketing", "demo-marketing-2026", "marketing"),
    ("agent", "demo-agent-2026", "agent"),
    ("manager", "demo-manager-2026", "manager"),
]


def demo_modules():
    for label in PROJECT_APPS:
        try:
            yield importlib.import_module(f"{label}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{label}.demo":
                raise


def ensure_demo_users() -> None:
    for username, password, role in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": role is None}
        )
        if created:
            user.set_password(password)
            user.save()
        if role:
            user.groups.add(Group.objects.get(name=role))


class Command(BaseCommand):
    help = "Run the demo: sandboxes, web server and demo data, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("DEMO_ADDR", "127.0.0.1:8000"))
        parser.add_argument(
            "--no-serve", action="store_true", help="load the demo data and exit (used by tests)"
        )

    def handle(self, *args, addr, no_serve, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        ensure_demo_users()
        modules = list(demo_modules())
        children: list[subprocess.Popen] = []
        try:
            if not no_serve:
                for module in modules:
                    for argv in getattr(module, "services", lambda: [])():
                        children.append(subprocess.Popen(argv))
                children.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "manage.py",
                            "runserver",
                            "--noreload",
                            "--insecure",
                            addr,
                        ],
                        cwd=settings.BASE_DIR,
                    )
                )
                self.wait_for_server(f"http://{addr}/healthz")
            for module in modules:
                if hasattr(module, "load"):
                    module.load(self.stdout)
            if no_serve:
                return
            for module in modules:
                if hasattr(module, "after_start"):
                    module.after_start(self.stdout)
            self.print_banner(addr, modules)
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

    def wait_for_server(self, url: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1):  # noqa: S310  loopback only
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"the web server did not answer at {url} within 30 s")

    def print_banner(self, addr: str, modules) -> None:
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
        self.stdout.write("\n".join(lines))
