"""Settings read from the environment: a typo is an error naming the variable, never a default."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from crm.settings import env_bool, env_float, env_int


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_env_bool_reads_yes_and_no_words(monkeypatch, raw, expected):
    monkeypatch.setenv("CRM_TEST_FLAG", raw)
    assert env_bool("CRM_TEST_FLAG", not expected) is expected


@pytest.mark.parametrize("raw", [None, ""])
def test_env_bool_unset_or_empty_is_the_default(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv("CRM_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("CRM_TEST_FLAG", raw)
    assert env_bool("CRM_TEST_FLAG", True) is True
    assert env_bool("CRM_TEST_FLAG", False) is False


def test_env_bool_refuses_a_typo_naming_the_variable(monkeypatch):
    monkeypatch.setenv("CELERY_TASK_ALWAYS_EAGER", "ture")
    with pytest.raises(ImproperlyConfigured) as error:
        env_bool("CELERY_TASK_ALWAYS_EAGER", False)
    assert str(error.value) == (
        "CELERY_TASK_ALWAYS_EAGER='ture' is not a yes/no value: use one of "
        "0, 1, false, no, off, on, true, yes"
    )


def test_env_int_and_env_float_read_numbers_and_refuse_typos(monkeypatch):
    monkeypatch.setenv("CRM_TEST_NUMBER", " 42 ")
    assert env_int("CRM_TEST_NUMBER", 7) == 42
    assert env_float("CRM_TEST_NUMBER", 7.0) == 42.0
    monkeypatch.setenv("CRM_TEST_NUMBER", "")
    assert env_int("CRM_TEST_NUMBER", 7) == 7
    monkeypatch.setenv("CRM_TEST_NUMBER", "4o")
    with pytest.raises(ImproperlyConfigured) as error:
        env_int("CRM_TEST_NUMBER", 7)
    assert str(error.value) == "CRM_TEST_NUMBER='4o' is not a whole number"
    monkeypatch.setenv("CRM_TEST_NUMBER", "5s")
    with pytest.raises(ImproperlyConfigured) as error:
        env_float("CRM_TEST_NUMBER", 5.0)
    assert str(error.value) == "CRM_TEST_NUMBER='5s' is not a number"


def test_manage_py_refuses_to_start_on_a_mistyped_flag():
    # The real interface: the settings module loaded by a fresh process.
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "ture"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert (
        "django.core.exceptions.ImproperlyConfigured: CELERY_TASK_ALWAYS_EAGER='ture' is not a "
        "yes/no value" in result.stderr
    )
