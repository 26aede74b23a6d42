"""Raw-first ingestion: a stored delivery is processed exactly once, and never lost."""

from datetime import timedelta

import pytest
from celery import shared_task
from django.test import RequestFactory
from django.utils import timezone

from crm import ingestion
from crm.models import RawDelivery, Tag

CALLS: list[int] = []


def _process(delivery):
    CALLS.append(delivery.pk)
    Tag.objects.create(name=f"from-{delivery.pk}")  # a visible effect of processing
    if bytes(delivery.body) == b"boom":
        raise ValueError("cannot parse")
    return f"key-{delivery.pk}"


@shared_task(name="tests.process_raw_task")
def process_raw_task(delivery_id):
    return ingestion.run_processor(delivery_id, _process)


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setitem(ingestion.PROCESSORS, "testsource", "tests.process_raw_task")
    CALLS.clear()


def store(body=b"<xml/>"):
    request = RequestFactory().post(
        "/hooks/x?signature=abc", data=body, content_type="text/xml", HTTP_COOKIE="s=1"
    )
    return ingestion.store_raw_delivery(
        source="testsource", account="acc", request=request, body=body
    )


def test_store_keeps_body_query_and_headers_but_not_cookies(db):
    delivery = store(b"<xml>\xe4\xbd\xa0</xml>")
    delivery.refresh_from_db()
    assert bytes(delivery.body) == "<xml>你</xml>".encode()
    assert delivery.query == {"signature": "abc"}
    assert delivery.headers["Content-Type"] == "text/xml"
    assert "Cookie" not in delivery.headers
    assert delivery.status == "pending"


def test_processing_twice_has_effect_once(db):
    delivery = store()
    assert ingestion.run_processor(delivery.pk, _process) == "processed"
    assert ingestion.run_processor(delivery.pk, _process) == "processed"
    assert CALLS == [delivery.pk]
    delivery.refresh_from_db()
    assert (delivery.dedupe_key, delivery.attempts) == (f"key-{delivery.pk}", 1)


def test_failure_is_recorded_and_rolls_back_partial_work(db):
    delivery = store(b"boom")
    assert ingestion.run_processor(delivery.pk, _process) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error, delivery.attempts) == (
        "failed",
        "ValueError: cannot parse",
        1,
    )
    assert Tag.objects.count() == 0


def test_enqueue_publishes_after_commit(db, django_capture_on_commit_callbacks):
    delivery = store()
    with django_capture_on_commit_callbacks(execute=True):
        ingestion.enqueue_delivery(delivery)
    delivery.refresh_from_db()
    assert delivery.status == "processed"


def test_sweep_republishes_pending_and_failed_older_rows(db):
    old = timezone.now() - timedelta(minutes=5)
    pending, failed, fresh = store(), store(b"boom"), store()
    RawDelivery.objects.filter(pk__in=[pending.pk, failed.pk]).update(received_at=old)
    RawDelivery.objects.filter(pk=failed.pk).update(status="failed", attempts=5)
    assert ingestion.sweep_raw_deliveries(older_than_seconds=30) == 1
    statuses = dict(RawDelivery.objects.values_list("pk", "status"))
    assert statuses == {pending.pk: "processed", failed.pk: "failed", fresh.pk: "pending"}


def test_broker_failure_is_swallowed_and_row_stays_pending(db, settings, monkeypatch):
    delivery = store()

    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(process_raw_task, "apply_async", broken)
    assert ingestion._publish("testsource", delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_redis_keys_are_the_caches_own_and_only_a_few_are_kept(monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr(ingestion, "REDIS_KEYS_KEPT", 2)
    client = type("Client", (), {})()
    names = ["hook-account:a", "hook-account:b", "hook-account:unknown"]
    expected = [cache.make_and_validate_key(name) for name in names]
    assert [ingestion.redis_key(client, name) for name in names] == expected
    assert [ingestion.redis_key(client, name) for name in names] == expected
    assert client.crm_keys == dict(zip(names[:2], expected[:2], strict=True))
