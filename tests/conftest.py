"""Fixtures shared by every app's tests: staff users in each role and API clients for them."""

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

ROLES = ("marketing", "agent", "manager")


@pytest.fixture(autouse=True, scope="session")
def hooks_take_their_own_path():
    """The test client sends /hooks/ to crm.webhooks.HookApp, as crm.wsgi does (hook_client)."""
    from tests.hook_client import install

    install()


@pytest.fixture(autouse=True)
def default_language():
    """Each test starts in the default language (zh-hans): a request sent in English activates
    English in the thread (LocaleMiddleware), which would otherwise carry into the next test."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def fresh_inbox_config():
    """The routing and SLA configuration cache (crm.inbox.config) starts empty in each test: a
    rolled-back test leaves rows behind in it otherwise."""
    from crm.inbox import config

    config.clear()
    yield
    config.clear()


def make_staff(username: str, role: str | None = None, superuser: bool = False) -> User:
    user = User.objects.create_user(
        username, password="pw-" + username, is_staff=True, is_superuser=superuser
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def marketing_user(db):
    return make_staff("mkt", "marketing")


@pytest.fixture
def agent_user(db):
    return make_staff("agent", "agent")


@pytest.fixture
def manager_user(db):
    return make_staff("manager", "manager")


@pytest.fixture
def admin_user(db):
    return make_staff("root", superuser=True)


def client_for(user: User | None) -> APIClient:
    """An API client authenticated with the user's token (the way other systems call us)."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api(marketing_user):
    """An API client acting as a marketing user, the main API user."""
    return client_for(marketing_user)


@pytest.fixture
def role_clients(marketing_user, agent_user, manager_user, admin_user):
    return {
        "marketing": client_for(marketing_user),
        "agent": client_for(agent_user),
        "manager": client_for(manager_user),
        "superuser": client_for(admin_user),
        "anonymous": client_for(None),
    }


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page():
    """A Playwright page in the system Chromium (no browser download), closed afterwards."""
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls a test makes
    # around it are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        context.close()
        browser.close()
    # The live server's thread shares these connections; close them so the test database can
    # be dropped at the end of the run ("database is being accessed by other users").
    from django.db import connections

    connections.close_all()


def admin_login(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def clear_own_cache() -> None:
    """Delete this process's cache keys (its KEY_PREFIX), leaving other xdist workers' alone."""
    from django.core.cache import cache

    client = getattr(cache, "_cache", None)
    if not hasattr(client, "get_client"):  # local memory: private to the process already
        cache.clear()
        return
    redis = client.get_client(write=True)
    pattern = cache.make_key("*")
    keys = list(redis.scan_iter(match=pattern, count=1000))
    if keys:
        redis.delete(*keys)


@pytest.fixture
def get_counting_queries():
    """`get_counting_queries(client, url)` -> (queries, response): a GET that must answer 200,
    and how many SQL queries it cost (the query-count guards of every list endpoint and page)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get(client, url):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return len(captured.captured_queries), response

    return get
