"""Queueing Celery tasks by name, now or once the current transaction commits.

Actions and ingestion code queue their follow-up work (a courtesy message, the processing of a
stored push) through these two functions, by the task's registered name
(`"members.tasks.send_order_message_task"`), never by importing the tasks module: tasks modules
import actions, so the other direction would be an import loop (import-linter's "no cycles inside
an app" contract holds it). Every app imports its tasks module in `AppConfig.ready`, so a name is
known in any process that loaded Django.

Publishing never raises: a broker that is down (or, with inline tasks, a task that failed) is
logged and reported as False. Callers whose work must not be lost keep a row that a sweep picks
up again (`crm.ingestion`); the rest (courtesy messages) accept the loss.
"""

import logging
from functools import partial

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def publish(task_name: str, *args) -> bool:
    """Queue the task `task_name` with these JSON arguments now. True if it was handed over."""
    try:
        current_app.tasks[task_name].apply_async(args=list(args), ignore_result=True)
    except Exception:  # noqa: BLE001  broker down or an inline task failed: see the docstring
        logger.warning("could not queue %s%r", task_name, args, exc_info=True)
        return False
    return True


def enqueue_on_commit(task_name: str, *args) -> None:
    """Queue the task `task_name` with these arguments once the current transaction commits
    (at once outside a transaction); nothing is queued if it rolls back."""
    transaction.on_commit(partial(publish, task_name, *args))
