"""Access: API throttling, admin login rate limiting, production settings, the permission matrix.

The matrix walks the URL resolver, so a page or API resource added later is covered without
editing this file: anonymous requests are refused everywhere except the public routes below;
each staff role reads an API list or admin list exactly when it holds that model's view
permission. tests/crm/test_permissions.py covers every crm API action per role in detail.
"""

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.contrib import admin
from django.core.cache import cache
from django.test import Client

from tests.conftest import client_for
from tests.crm.factories import CustomerFactory

from .urls import all_routes, viewset_of

ROOT = Path(__file__).resolve().parents[2]

# Routes anyone may call: platform webhooks (signed), health, language switch, the API schema and
# its docs page, the member self-service pages (WeChat OAuth), the admin login, the Weibo OAuth
# callback (it checks its own state), the Weibo handoff pages (`/h/<token>`: the token is the
# credential, checked there), the tracked links (`/r/<token>`: a signed token, 404 otherwise),
# and `/` (a redirect to the admin).
PUBLIC = re.compile(
    r"^/(|healthz|i18n/setlang/|api/schema/|api/docs/|hooks/.*|m/.*|admin/login/|"
    r"admin/logout/|weibo/oauth/callback/|h/.*|r/.*)$"
)


def _refused(response) -> bool:
    if response.status_code in (401, 403, 405):
        return True
    return response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_anonymous_is_refused_everywhere_but_the_public_routes():
    client = Client()
    checked, leaks = 0, []
    for path, _pattern in all_routes():
        if PUBLIC.match(path):
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            checked += 1
            if not _refused(response):
                leaks.append((method, path, response.status_code))
    assert leaks == []
    assert checked > 500  # every admin, API and page route, GET and POST


def _merchant():
    from members.models import MerchantConfig

    return MerchantConfig.objects.create(
        mchid="1900000109",
        name="商户",
        appid="wx2421b1c4370ec43b",
        app_secret="s",
        api_key="k" * 32,
    )


@pytest.mark.django_db
def test_public_routes_never_fail_with_5xx():
    _merchant()  # the member pages answer 503 "not configured" until a merchant exists
    client = Client()
    public = [path for path, _ in all_routes() if PUBLIC.match(path)]
    assert "/healthz" in public and "/hooks/wechat/1" in public and "/m/" in public
    statuses = {path: client.get(path).status_code for path in public}
    assert [p for p, s in statuses.items() if s >= 500] == []


ROLES = ("marketing", "agent", "manager", "superuser")


def _users(marketing_user, agent_user, manager_user, admin_user):
    return dict(zip(ROLES, (marketing_user, agent_user, manager_user, admin_user), strict=True))


def test_api_lists_answer_each_role_by_its_view_permission(
    marketing_user, agent_user, manager_user, admin_user
):
    users = _users(marketing_user, agent_user, manager_user, admin_user)
    cells, wrong, lists = 0, [], 0
    for path, pattern in all_routes():
        cls, actions = viewset_of(pattern)
        if cls is None or actions.get("get") != "list":
            continue
        lists += 1
        model = cls.queryset.model
        perm = f"{model._meta.app_label}.view_{model._meta.model_name}"
        for role, user in users.items():
            expected = 200 if user.has_perm(perm) else 403
            status = client_for(user).get(path).status_code
            cells += 1
            if status != expected:
                wrong.append((role, path, status, expected))
    assert wrong == []
    assert lists >= 16 and cells == 4 * lists


def test_admin_lists_answer_each_role_by_its_view_permission(
    marketing_user, agent_user, manager_user, admin_user
):
    users = _users(marketing_user, agent_user, manager_user, admin_user)
    cells, wrong = 0, []
    for model in admin.site._registry:
        opts = model._meta
        path = f"/admin/{opts.app_label}/{opts.model_name}/"
        for role, user in users.items():
            client = Client()
            client.force_login(user)
            may = user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
                f"{opts.app_label}.change_{opts.model_name}"
            )
            status = client.get(path).status_code
            cells += 1
            if status != (200 if may else 403):
                wrong.append((role, path, status))
    assert wrong == []
    assert cells == 4 * len(admin.site._registry)


def test_every_page_answers_every_role_without_5xx(
    marketing_user, agent_user, manager_user, admin_user
):
    CustomerFactory(name="页面客户")
    _merchant()
    failures = []
    for role, user in _users(marketing_user, agent_user, manager_user, admin_user).items():
        client = Client()
        client.force_login(user)
        for path, _pattern in all_routes():
            if path.startswith(("/api/", "/hooks/", "/admin/logout/", "/i18n/")):
                continue
            status = client.get(path).status_code
            if status >= 500:
                failures.append((role, path, status))
    assert failures == []


# Export, merge, erase and personal data export, per role, in the API and the admin ------------

PRIVACY_CASES = [
    # (method, path, marketing, agent, manager, superuser)
    ("post", "/api/v1/customers/{c}/erase/", (200, 403, 403, 200)),
    ("get", "/api/v1/customers/{c}/data-export/", (200, 403, 403, 200)),
]


@pytest.mark.parametrize("method,path,expected", PRIVACY_CASES)
def test_erase_and_data_export_permissions(
    marketing_user, agent_user, manager_user, admin_user, method, path, expected
):
    for role, user, status in zip(
        ROLES, (marketing_user, agent_user, manager_user, admin_user), expected, strict=True
    ):
        customer = CustomerFactory(name="权限")
        response = getattr(client_for(user), method)(path.format(c=customer.pk))
        assert response.status_code == status, (role, path, response.content[:200])
    assert client_for(None).post(path.format(c=customer.pk)).status_code == 401


@pytest.mark.parametrize(
    "action", ["export_csv", "merge_selected", "export_personal_data", "erase_personal_data"]
)
def test_agents_cannot_run_sensitive_admin_actions(agent_user, action):
    a, b = CustomerFactory(name="甲"), CustomerFactory(name="乙")
    client = Client()
    client.force_login(agent_user)
    response = client.post(
        "/admin/crm/customer/",
        {"action": action, "_selected_action": [a.pk, b.pk]},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    # An action the user lacks is not offered: Django answers "No action selected."
    assert response.status_code == 302
    follow = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert "No action selected." in follow.content.decode()
    assert client.get(f"/admin/crm/customer/merge/?ids={a.pk},{b.pk}").status_code == 403


# API throttling -----------------------------------------------------------------------------


def test_api_throttle_per_token_answers_429_with_retry_after(settings, marketing_user, agent_user):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/minute", "anon": "1000/minute"},
    }
    cache.delete_many([f"throttle_user_{marketing_user.pk}", f"throttle_user_{agent_user.pk}"])
    client = client_for(marketing_user)
    statuses = [client.get("/api/v1/tags/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/v1/tags/", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 429
    wait = int(refused["Retry-After"])
    assert 50 <= wait <= 60
    assert refused.json() == {
        "detail": f"Request was throttled. Expected available in {wait} seconds."
    }
    # The limit is per token: another user is not affected.
    assert client_for(agent_user).get("/api/v1/tags/").status_code == 200


def test_anonymous_api_throttle_per_address(settings, db):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1000/minute", "anon": "1/minute"},
    }
    cache.delete("throttle_anon_10.9.8.7")
    client = client_for(None)
    assert client.get("/api/schema/", REMOTE_ADDR="10.9.8.7").status_code == 200
    refused = client.get("/api/schema/", REMOTE_ADDR="10.9.8.7")
    assert refused.status_code == 429
    assert 50 <= int(refused["Retry-After"]) <= 60


# Admin login rate limiting ------------------------------------------------------------------


def _clear_login_failures(*keys):
    cache.delete_many([k for key in keys for k in (key, key + ":since")])


def _login(client, username, password, ip):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_admin_login_is_refused_after_failures_for_a_username(settings, admin_user, agent_user):
    settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_FAILURE_WINDOW = 3, 600
    ip = "10.1.0.1"
    _clear_login_failures(
        "login-failures:user-ip:root|10.1.0.1",
        "login-failures:user-ip:agent|10.1.0.1",
        "login-failures:user-ip:root|10.1.0.2",
        "login-failures:ip:10.1.0.1",
        "login-failures:ip:10.1.0.2",
    )
    client = Client()
    for _ in range(3):  # three failures for one username from one address reach the limit
        response = _login(client, "root", "wrong", ip)
        assert response.status_code == 200
        assert "Please enter the correct username and password" in response.content.decode()
    refused = _login(client, "root", "pw-root", ip)  # even the right password
    assert refused.status_code == 429
    assert (
        "Too many failed logins for this user from this address. Try again in 10 minutes."
        in refused.content.decode()
    )
    assert 590 <= int(refused["Retry-After"]) <= 600
    assert "_auth_user_id" not in client.session
    # Another user from that address, and the same user from another, log in normally.
    ok = _login(Client(), "agent", "pw-agent", ip)
    assert ok.status_code == 302 and ok["Location"] == "/admin/"
    assert _login(Client(), "root", "pw-root", "10.1.0.2").status_code == 302


def test_admin_login_is_refused_after_failures_from_one_address(settings, admin_user, agent_user):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS, settings.LOGIN_FAILURE_WINDOW = 2, 600
    ip = "10.2.0.1"
    _clear_login_failures(
        "login-failures:user-ip:x1|10.2.0.1",
        "login-failures:user-ip:x2|10.2.0.1",
        f"login-failures:ip:{ip}",
        "login-failures:ip:10.2.0.2",
    )
    client = Client()
    assert _login(client, "x1", "wrong", ip).status_code == 200
    assert _login(client, "x2", "wrong", ip).status_code == 200
    assert _login(client, "agent", "pw-agent", ip).status_code == 429
    assert _login(Client(), "agent", "pw-agent", "10.2.0.2").status_code == 302


def test_admin_login_is_accepted_again_after_the_window(settings, admin_user):
    settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_FAILURE_WINDOW = 1, 2
    ip = "10.3.0.1"
    _clear_login_failures(f"login-failures:user-ip:root|{ip}", f"login-failures:ip:{ip}")
    client = Client()
    assert _login(client, "root", "wrong", ip).status_code == 200
    assert _login(client, "root", "pw-root", ip).status_code == 429
    time.sleep(2.2)  # the cache entries expire with the window
    assert _login(client, "root", "pw-root", ip).status_code == 302


# Production settings -------------------------------------------------------------------------


def test_check_deploy_is_clean_with_a_production_environment(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "crm.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://crm.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_PRELOAD": "1",
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stderr == ""  # shown in full: the checks that failed and why
    assert (result.returncode, result.stdout) == (
        0,
        "System check identified no issues (0 silenced).\n",
    )


def test_production_defaults_are_https_only(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
        " s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SESSION_COOKIE_HTTPONLY)"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "crm.settings",
    }
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup();" + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out == "True True 31536000 True True\n"


def test_apps_are_all_covered_by_the_walk():
    """The walk sees each app's API and pages (a router added later appears here)."""
    paths = [p for p, _ in all_routes()]
    for prefix in ("/api/v1/customers/", "/api/v1/members/", "/api/v1/wechat/", "/api/v1/weibo/"):
        assert any(p.startswith(prefix) for p in paths), prefix
    assert {a.label for a in apps.get_app_configs()} >= {"crm", "members", "dashboards"}
