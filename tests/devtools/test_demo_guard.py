"""The demo creates a superuser whose password is in the README (#14 finding 13): it runs on its
own SQLite file, on another database only when told so explicitly, and never with production
settings."""

import io
import os
import sqlite3
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection

import devtools.demo
from devtools.demo import main

FLAG = "--i-know-this-is-not-the-demo-database"
PRODUCTION_REFUSAL = (
    "The demo does not run with production settings (DEBUG off and a real SECRET_KEY): "
    "it creates a superuser whose password is published.\n"
)


@pytest.fixture
def no_loaders(monkeypatch, settings, tmp_path):
    """The runner alone (users, migrate, collectstatic into a temporary directory), without
    the minutes of loading every app's demo data."""
    monkeypatch.setattr(devtools.demo, "LOADERS", [])
    settings.STATIC_ROOT = tmp_path / "static"
    return settings.STATIC_ROOT


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    status = main(argv, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_demo_refuses_a_database_that_is_not_its_own_sqlite_file(db, no_loaders):
    status, _out, err = run(["--no-serve"])

    db_settings = connection.settings_dict
    assert status == 2
    assert err == (
        "The demo loads made-up data and a superuser with a published password into the "
        f"postgresql database {db_settings['NAME']} on {db_settings['HOST']}:"
        f"{db_settings['PORT']}, which is not the demo's own database "
        f"({django_settings.BASE_DIR / 'var' / 'crm.sqlite3'}). Unset DATABASE_URL to use that, "
        f"or pass {FLAG} if this database is a throwaway one.\n"
    )
    assert User.objects.count() == 0
    assert not no_loaders.exists()  # refused before collectstatic too


def test_demo_runs_on_another_database_when_told_explicitly(db, no_loaders):
    status, _out, err = run(["--no-serve", FLAG])

    assert (status, err) == (0, "")
    assert sorted(User.objects.values_list("username", "is_superuser")) == [
        ("admin", True),
        ("agent", False),
        ("manager", False),
        ("marketing", False),
    ]


def test_demo_never_runs_with_production_settings_even_when_told(db, no_loaders, settings):
    settings.PRODUCTION = True

    status, _out, err = run(["--no-serve", FLAG])

    assert (status, err) == (2, PRODUCTION_REFUSAL)
    assert User.objects.count() == 0
    assert not no_loaders.exists()


def test_production_is_recognised_from_the_environment_as_the_settings_do(tmp_path):
    """The command line a production host would run: DEBUG unset, a real SECRET_KEY."""
    target = tmp_path / "production.sqlite3"
    env = {
        **os.environ,
        "SECRET_KEY": "a-real-production-key-" + "x" * 40,
        "DATABASE_URL": f"sqlite:///{target}",
        "DEBUG": "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--no-serve", FLAG],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert (result.returncode, result.stderr) == (2, PRODUCTION_REFUSAL)
    tables = (
        sqlite3.connect(target).execute("SELECT name FROM sqlite_master").fetchall()
        if target.exists()
        else []
    )
    assert tables == []


def test_the_demo_sqlite_file_needs_no_flag(monkeypatch):
    """The default database with no DATABASE_URL is the demo's own: no flag needed (checked on
    the settings alone, nothing is connected to)."""
    monkeypatch.setitem(connection.settings_dict, "ENGINE", "django.db.backends.sqlite3")
    monkeypatch.setitem(
        connection.settings_dict, "NAME", str(django_settings.BASE_DIR / "var" / "crm.sqlite3")
    )

    assert devtools.demo.check_target() is None
