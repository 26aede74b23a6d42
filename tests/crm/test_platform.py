"""Project wiring: Celery configuration, beat schedule, health, schema, docs, admin language."""

import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from crm.celery import app


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    registered = set(app.tasks)
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled, "the beat schedule is empty"
    assert scheduled - registered == set()


def test_celery_speaks_json_only_and_acks_late():
    assert (app.conf.task_serializer, app.conf.accept_content) == ("json", ["json"])
    assert app.conf.task_acks_late is True
    assert app.conf.task_time_limit == 180


def test_tests_run_against_real_postgresql_and_redis(db):
    from django.db import connection

    assert connection.vendor == "postgresql"
    assert redis.Redis.from_url(settings.REDIS_URL).ping() is True


def test_healthz_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_reports_unreachable_broker(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": "ok", "broker": "unreachable"}


def test_openapi_schema_validates(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/v1/customers/{id}/merge/",
        "/api/v1/customers/{id}/timeline/",
        "/api/v1/segments/{id}/customers/",
        "/api/v1/leads/",
    ):
        assert path in text


def test_swagger_ui_is_served_without_cdn(client, db):
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


@pytest.mark.parametrize("lang,title", [("zh-hans", "站点管理"), ("en", "Site administration")])
def test_admin_speaks_chinese_by_default_and_english_when_asked(client, admin_user, lang, title):
    client.force_login(admin_user)
    html = client.get("/admin/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    assert '<html lang="%s"' % ("zh-hans" if lang == "zh-hans" else "en") in html
    assert ("客户" if lang == "zh-hans" else "Customers") in html


def test_deploy_check_refuses_development_secret():
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError) as exc:
        call_command("check", "--deploy", "--fail-level", "ERROR")
    assert "crm.E001" in str(exc.value)
