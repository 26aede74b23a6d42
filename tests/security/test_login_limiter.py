"""Security #14 finding 9: the admin login limiter behind a reverse proxy.

The client address is REMOTE_ADDR unless that is a trusted proxy (settings.TRUSTED_PROXIES), in
which case it is the right-most address of X-Forwarded-For that is not a trusted proxy. Failures
count per (username, address) and per address: staff behind one proxy do not share a key, and
failures from one address do not lock a named user out from another. X-Forwarded-Proto is
believed only when SECURE_PROXY_SSL_HEADER is configured; the settings helpers refuse a value
they cannot read.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import clear_own_cache

ROOT = Path(__file__).resolve().parents[2]
PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def limiter(settings):
    settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_FAILURE_WINDOW = 5, 900
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 20
    settings.TRUSTED_PROXIES = []
    clear_own_cache()
    yield
    clear_own_cache()


def _login(username, password, remote, forwarded=None, client=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return (client or Client()).post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=remote,
        HTTP_ACCEPT_LANGUAGE="en",
        **extra,
    )


def test_behind_a_trusted_proxy_one_clients_failures_do_not_lock_out_the_others(
    settings, agent_user
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for _ in range(5):
        assert _login("mallory", "wrong", PROXY, "203.0.113.5").status_code == 200
    assert _login("mallory", "wrong", PROXY, "203.0.113.5").status_code == 429
    # Another member of staff through the same proxy logs in.
    ok = _login("agent", "pw-agent", PROXY, "198.51.100.7")
    assert (ok.status_code, ok["Location"]) == (302, "/admin/")


def test_failures_from_one_address_do_not_lock_the_user_out_from_another(admin_user):
    for _ in range(5):
        assert _login("root", "wrong", "203.0.113.5").status_code == 200
    ok = _login("root", "pw-root", "198.51.100.7")
    assert (ok.status_code, ok["Location"]) == (302, "/admin/")
    refused = _login("root", "pw-root", "203.0.113.5")  # even the right password, from there
    assert refused.status_code == 429
    assert "Too many failed logins for this user from this address." in refused.content.decode()


def test_one_address_trying_many_usernames_is_limited_per_address(admin_user):
    for number in range(20):
        assert _login(f"user{number}", "wrong", "203.0.113.9").status_code == 200
    refused = _login("root", "pw-root", "203.0.113.9")
    assert refused.status_code == 429
    assert "Too many failed logins from this address." in refused.content.decode()
    assert _login("root", "pw-root", "198.51.100.9").status_code == 302


def test_x_forwarded_for_from_an_untrusted_address_is_ignored(admin_user):
    for number in range(5):
        forged = f"192.0.2.{number}"
        assert _login("root", "wrong", "203.0.113.5", forged).status_code == 200
    assert _login("root", "pw-root", "203.0.113.5", "192.0.2.99").status_code == 429


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_counts(settings, admin_user):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "172.16.0.1"]
    for number in range(5):  # the client writes its own X-Forwarded-For; the proxies append
        forwarded = f"192.0.2.{number}, 203.0.113.5, 10.1.1.1, 172.16.0.1"
        assert _login("root", "wrong", PROXY, forwarded).status_code == 200
    assert _login("root", "pw-root", PROXY, "192.0.2.99, 203.0.113.5").status_code == 429
    assert _login("root", "pw-root", PROXY, "203.0.113.6").status_code == 302


def test_x_forwarded_proto_is_ignored_unless_configured(settings, admin_user):
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert (response.status_code, response["Location"]) == (
        301,
        "https://testserver/admin/login/",
    )


def _settings_of(names, **env):
    """Load crm.settings in a fresh interpreter with this environment; its values or its error."""
    code = f"import crm.settings as s\nprint(repr(tuple(getattr(s, n) for n in {names!r})))\n"
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout.strip(), result.stderr.strip().splitlines()[-1:]


def test_proxy_settings_are_off_unless_configured():
    names = ["TRUSTED_PROXIES", "SECURE_PROXY_SSL_HEADER"]
    assert _settings_of(names) == (0, "([], None)", [])
    configured = _settings_of(
        names,
        TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.10",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto",
    )
    assert configured == (
        0,
        "(['10.0.0.0/8', '192.168.1.10'], ('HTTP_X_FORWARDED_PROTO', 'https'))",
        [],
    )


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        (
            "SECURE_SSL_REDIRECT",
            "ture",
            "django.core.exceptions.ImproperlyConfigured: SECURE_SSL_REDIRECT='ture' is not a "
            "yes/no value: use one of 0, 1, false, no, off, on, true, yes",
        ),
        (
            "TRUSTED_PROXIES",
            "10.0.0.0/8,proxy.internal",
            "django.core.exceptions.ImproperlyConfigured: TRUSTED_PROXIES: 'proxy.internal' is "
            "not an IP address or network.",
        ),
        (
            "SECURE_PROXY_SSL_HEADER",
            "X-Forwarded-Proto: https",
            "django.core.exceptions.ImproperlyConfigured: SECURE_PROXY_SSL_HEADER must be a "
            "header name such as X-Forwarded-Proto, not 'X-Forwarded-Proto: https'.",
        ),
        (
            "LOGIN_FAILURE_LIMIT",
            "five",
            "django.core.exceptions.ImproperlyConfigured: LOGIN_FAILURE_LIMIT='five' is not a "
            "whole number",
        ),
    ],
    ids=["bool", "proxies", "ssl-header", "int"],
)
def test_settings_refuse_a_value_they_cannot_read(name, value, error):
    returncode, _, last_line = _settings_of(["DEBUG"], **{name: value})
    assert (returncode, last_line) == (1, [error])
