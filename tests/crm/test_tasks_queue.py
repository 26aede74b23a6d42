"""crm.tasks_queue: tasks queued by name, after commit, and a broker failure never raises."""

from celery import shared_task
from django.db import transaction

from crm.tasks_queue import enqueue_on_commit, publish

RAN: list[tuple] = []


@shared_task(name="tests.record_args_task")
def record_args_task(*args):
    RAN.append(args)


def test_enqueue_on_commit_runs_the_named_task_after_commit(db, django_capture_on_commit_callbacks):
    RAN.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue_on_commit("tests.record_args_task", 7, "x")
        assert RAN == []  # not before the commit
    assert len(callbacks) == 1
    assert RAN == [(7, "x")]


def test_enqueue_on_commit_queues_nothing_when_the_transaction_rolls_back(
    transactional_db,
):
    RAN.clear()
    try:
        with transaction.atomic():
            enqueue_on_commit("tests.record_args_task", 1)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert RAN == []


def test_publish_reports_a_broker_failure_instead_of_raising(monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(record_args_task, "apply_async", broken)
    assert publish("tests.record_args_task", 3) is False


def test_publish_returns_true_when_handed_over():
    RAN.clear()
    assert publish("tests.record_args_task", 4) is True
    assert RAN == [(4,)]
