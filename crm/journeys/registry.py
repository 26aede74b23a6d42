"""What journey steps can check and do, registered by the apps that own them.

crm registers its own (tag, stage, segment; add tag, create lead, assign to an agent) in
`crm.journeys.builtin`; members and the channel apps register theirs in `AppConfig.ready`
(tier, issue coupon, customer-service and template messages), so crm imports none of them.

- A condition is `check(customer_ids, value) -> set of the ids that pass`: one query for a batch.
  A condition that can say which customers pass as a queryset (`customers(value) -> Customer
  QuerySet`) registers that instead: the tick then decides a whole batch inside the SQL that
  moves it (no ids through Python), and `check` is derived from the same queryset.
- An action is `run(customer, value, *, key, at) -> summary`: it raises ValidationError to fail
  the step (the message is recorded). `key` is unique per enrollment and step. An action is
  `idempotent` when running it twice with the same key has the effect of once (adding a tag):
  after a worker died mid-step only those are run again; the others (a message) are recorded
  as failed, never sent twice.
- A scanner finds the customers a time-based trigger enrolls: `scan(days, at) -> iterable of
  (customer_id, entry_key)`.
- `validate(value)` raises ValidationError naming what is wrong; the admin calls it on save.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet


@dataclass(frozen=True)
class Condition:
    name: str
    label: Any
    check: Callable[[list[int], str], set[int]]
    validate: Callable[[str], None] | None = None
    customers: Callable[[str], QuerySet] | None = None


@dataclass(frozen=True)
class Action:
    name: str
    label: Any
    run: Callable[..., str]
    idempotent: bool
    validate: Callable[[str], None] | None = None


CONDITIONS: dict[str, Condition] = {}
ACTIONS: dict[str, Action] = {}
SCANNERS: dict[str, Callable[[int, datetime], Iterable[tuple[int, str]]]] = {}


def register_condition(
    name: str,
    label: Any,
    check: Callable[[list[int], str], set[int]] | None = None,
    validate: Callable[[str], None] | None = None,
    *,
    customers: Callable[[str], QuerySet] | None = None,
) -> None:
    """Register a condition by `check` or by `customers` (a Customer queryset of those who pass,
    from which `check` is derived); TypeError with neither."""
    if check is None:
        if customers is None:
            raise TypeError(f"condition {name} needs check or customers")
        check = _check_in(customers)
    CONDITIONS[name] = Condition(name, label, check, validate, customers)


def _check_in(customers: Callable[[str], QuerySet]) -> Callable[[list[int], str], set[int]]:
    def check(customer_ids: list[int], value: str) -> set[int]:
        return set(customers(value).filter(pk__in=customer_ids).values_list("pk", flat=True))

    return check


def register_action(
    name: str,
    label: Any,
    run: Callable[..., str],
    *,
    idempotent: bool,
    validate: Callable[[str], None] | None = None,
) -> None:
    ACTIONS[name] = Action(name, label, run, idempotent, validate)


def register_scanner(
    trigger: str, scan: Callable[[int, datetime], Iterable[tuple[int, str]]]
) -> None:
    SCANNERS[trigger] = scan
