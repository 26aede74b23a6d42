"""The admin role matrix (issue #14): every admin URL, for every role, answers what the role's
permissions say, shows no secret, and a refused request writes nothing.

Every URL comes from walking `admin.site._registry`, so a model or a custom view added later is
covered without editing this file: each changelist, add, change, delete and history page of a
seeded row, every action (POSTed to the changelist with the seeded row selected) and every view a
ModelAdmin adds in `get_urls`. The expected status comes from `user.has_perm`, never from the
response: anonymous -> 302 to the login, allowed -> 200, refused -> 403. A permission an admin
refuses even to a superuser (`has_add_permission` returning False on a log) is refused to all.

One row of every registered model (and of what it points at) is seeded, each encrypted field
with a known value; no response body for any role may contain one. For every role the POSTs it
is refused (change, add, delete, actions and custom views it lacks) write nothing: the row
count of every model, the audit log and the admin log included, is the same before and after;
for the read-only roles (manager, anonymous) that holds over the whole walk.
"""

import datetime
import decimal
import itertools
import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from crm.fields import EncryptedTextField

ROLES = ("marketing", "agent", "manager", "anonymous", "superuser")
READ_ONLY = ("manager", "anonymous")
LOGIN = "302 to the login"
STANDARD_VIEWS = ("changelist", "add", "history", "delete", "change")
# Custom admin views whose permission is not the model's view permission.
CUSTOM_VIEW_PERMISSION = {
    "crm_customer_merge": "crm.merge_customer",
    "channels_wechat_messagetemplate_fetch": "channels_wechat.change_messagetemplate",
    "crm_customerimport_import": "crm.add_customer",
    "crm_customerimport_undo": "crm.delete_customer",
}
_counter = itertools.count(1)


# Seeding -----------------------------------------------------------------------------------------


def _secret_for(field) -> str:
    marker = f"SeCrEt{field.model._meta.model_name}{field.name}".replace("_", "")
    # The WeChat EncodingAESKey is 43 characters; every secret here is long enough to be unique.
    return (marker + "x" * 43)[: max(43, len(marker))]


def _value_for(field):
    """A valid value for a required field that has no default."""
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, EncryptedTextField):
        return _secret_for(field)
    n = next(_counter)
    if isinstance(field, models.EmailField):
        return f"seed{n}@example.com"
    if isinstance(field, (models.CharField, models.TextField)):
        limit = field.max_length or 20
        return f"{n}{field.name}"[:limit] if limit < 8 else f"seed{n}"[:limit]
    if isinstance(field, (models.BigIntegerField, models.IntegerField)):
        return n
    if isinstance(field, models.DecimalField):
        return decimal.Decimal(1)
    if isinstance(field, models.FloatField):
        return 1.0
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return timezone.localdate()
    if isinstance(field, models.TimeField):
        return datetime.time(9, 0)
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, (models.BinaryField,)):
        return b"seed"
    raise NotImplementedError(f"no seed value for {field.model._meta.label}.{field.name}")


def seed(model, made: dict):
    """One saved row of `model`: required fields filled, foreign keys to seeded rows, every
    encrypted field (required or not) given its known secret."""
    if model in made:
        return made[model]
    values = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.auto_created:
            continue
        if isinstance(field, EncryptedTextField):
            values[field.name] = _secret_for(field)
        elif field.is_relation:
            related = field.related_model
            if related is ContentType:
                values[field.name] = ContentType.objects.get_for_model(model)
            elif field.one_to_one or not (field.null or field.blank):
                # One-to-one targets get a row of their own: the shared one may be taken.
                target = _fresh(related, made) if field.one_to_one else seed(related, made)
                values[field.name] = target
        elif field.has_default() or field.null or (field.blank and field.empty_strings_allowed):
            continue
        else:
            values[field.name] = _value_for(field)
    made[model] = model._base_manager.create(**values)
    return made[model]


def _fresh(model, made: dict):
    existing = made.pop(model, None)
    row = seed(model, made)
    if existing is not None:
        made[model] = existing
    return row


@pytest.fixture
def seeded(db, marketing_user, agent_user, manager_user, admin_user):
    made = {type(admin_user): admin_user}
    for model in admin.site._registry:
        seed(model, made)
    rows = {model: made[model] for model in admin.site._registry}
    # A second customer: the merge view needs two.
    second = rows[apps.get_model("crm", "Customer")].__class__.objects.create(name="二号")
    secrets = {
        _secret_for(f)
        for m in apps.get_models()
        for f in m._meta.concrete_fields
        if isinstance(f, EncryptedTextField) and m in made
    }
    # API token keys are secrets too (whoever reads one acts as its user through the API).
    from rest_framework.authtoken.models import Token

    secrets |= set(Token.objects.values_list("key", flat=True))
    return {"rows": rows, "secrets": secrets, "second_customer": second}


# The walk ----------------------------------------------------------------------------------------


@dataclass
class Cell:
    method: str
    path: str
    expected: int | str  # 200, 403, 302 (back to the changelist) or LOGIN (302 to the login)
    data: dict | None = None
    action: str | None = None
    permitted: bool = False  # an action the role may run (it may write)


def _counts() -> dict[str, int]:
    return {m._meta.label: m._base_manager.count() for m in apps.get_models()}


def _request_for(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _may(user, model_admin, verb: str, superuser) -> bool:
    """The role holds the model's `verb` permission and the admin allows it to anyone."""
    opts = model_admin.model._meta
    if not user.is_authenticated:
        return False
    check = getattr(model_admin, f"has_{verb}_permission")
    admin_allows = check(_request_for(superuser))
    return admin_allows and user.has_perm(f"{opts.app_label}.{verb}_{opts.model_name}")


def _custom_views(model_admin):
    opts = model_admin.model._meta
    standard = {f"{opts.app_label}_{opts.model_name}_{v}" for v in STANDARD_VIEWS}
    return [u for u in model_admin.get_urls() if u.name and u.name not in standard]


def cells_for(user, superuser, seeded) -> list[Cell]:
    anonymous = not user.is_authenticated
    cells = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        obj = seeded["rows"][model]
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        can_view = _may(user, model_admin, "view", superuser) or _may(
            user, model_admin, "change", superuser
        )

        def status(allowed: bool) -> int:
            return LOGIN if anonymous else (200 if allowed else 403)

        cells += [
            Cell("get", base, status(can_view)),
            Cell("get", f"{base}add/", status(_may(user, model_admin, "add", superuser))),
            Cell("get", f"{base}{obj.pk}/change/", status(can_view)),
            Cell("get", f"{base}{obj.pk}/history/", status(can_view)),
            Cell(
                "get",
                f"{base}{obj.pk}/delete/",
                status(_may(user, model_admin, "delete", superuser)),
            ),
        ]
        # Writes the role may not make: refused, and (checked by the caller) nothing written.
        if not _may(user, model_admin, "change", superuser):
            cells.append(Cell("post", f"{base}{obj.pk}/change/", status(False), data={}))
        if not _may(user, model_admin, "add", superuser):
            cells.append(Cell("post", f"{base}add/", status(False), data={}))
        if not _may(user, model_admin, "delete", superuser):
            cells.append(
                Cell("post", f"{base}{obj.pk}/delete/", status(False), data={"post": "yes"})
            )
        cells += _action_cells(user, superuser, model_admin, base, obj, can_view)
        for pattern in _custom_views(model_admin):
            kwargs = {name: obj.pk for name in pattern.pattern.converters}
            path = reverse(f"admin:{pattern.name}", kwargs=kwargs)
            perm = CUSTOM_VIEW_PERMISSION.get(
                pattern.name, f"{opts.app_label}.view_{opts.model_name}"
            )
            allowed = not anonymous and user.has_perm(perm)
            query = ""
            if pattern.name == "crm_customer_merge":
                query = f"?ids={obj.pk},{seeded['second_customer'].pk}"
            cells.append(Cell("get", path + query, status(allowed)))
            if not allowed:
                cells.append(Cell("post", path + query, status(False), data={"target": obj.pk}))
    return cells


def _action_permitted(user, superuser, model_admin, func) -> bool:
    opts = model_admin.model._meta
    if not user.is_authenticated:
        return False
    for permission in getattr(func, "allowed_permissions", ()):
        if not getattr(model_admin, f"has_{permission}_permission")(_request_for(superuser)):
            return False
        if not user.has_perm(f"{opts.app_label}.{permission}_{opts.model_name}"):
            return False
    return True


def _action_cells(user, superuser, model_admin, base, obj, can_view) -> list[Cell]:
    actions = model_admin._get_base_actions()
    permitted = {
        name for func, name, _d in actions if _action_permitted(user, superuser, model_admin, func)
    }
    cells = []
    for _func, name, _description in actions:
        data = {"action": name, "_selected_action": [obj.pk], "index": "0"}
        if not user.is_authenticated:
            expected = LOGIN
        elif not can_view:
            expected = 403
        elif name in permitted:
            expected = 200  # or the redirect the action chose: see _check
        else:
            # Refused: "No action selected." (302 back) when the user has other actions; the
            # plain changelist (200) when it has none.
            expected = 302 if permitted else 200
        cells.append(
            Cell("post", base, expected, data=data, action=name, permitted=name in permitted)
        )
    return cells


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _check(client, cell: Cell, secrets) -> tuple | None:
    """Run one cell; the mismatch, if any."""
    response = getattr(client, cell.method)(cell.path, cell.data or {})
    body = _body(response)
    leaked = [s for s in secrets if s in body]
    status = response.status_code
    if leaked:
        return (cell.method, cell.path, cell.action, "leaks", leaked)
    if cell.expected == LOGIN:
        if status != 302 or "/admin/login/" not in response["Location"]:
            return (cell.method, cell.path, cell.action, status, "expected the login")
        return None
    if cell.permitted:
        if status not in (200, 302) or "/admin/login/" in response.get("Location", ""):
            return (cell.method, cell.path, cell.action, status, "action did not run")
        return None
    if status != cell.expected:
        return (cell.method, cell.path, cell.action, status, cell.expected)
    if cell.action and status == 302:
        follow = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
        if "No action selected." not in follow.content.decode():
            return (cell.method, cell.path, cell.action, "refused action ran")
    return None


def _audit_and_log() -> tuple[int, int]:
    from django.contrib.admin.models import LogEntry

    from crm.models import AuditEntry

    return AuditEntry.objects.count(), LogEntry.objects.count()


@pytest.mark.parametrize("role", ROLES)
def test_admin_matrix(seeded, role, marketing_user, agent_user, manager_user, admin_user):
    user = {
        "marketing": marketing_user,
        "agent": agent_user,
        "manager": manager_user,
        "anonymous": AnonymousUser(),
        "superuser": admin_user,
    }[role]
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if user.is_authenticated:
        client.force_login(user)
    cells = cells_for(user, admin_user, seeded)
    secrets = seeded["secrets"]
    assert len(secrets) >= 8  # OfficialAccount x3, WeiboAccount x2, MerchantConfig x3, a token
    refused = [c for c in cells if c.method == "post" and not c.permitted]
    permitted_actions = [c for c in cells if c.permitted]
    reads = [c for c in cells if c.method == "get"]

    start = (_counts(), _audit_and_log())
    wrong = [w for c in refused + reads if (w := _check(client, c, secrets))]
    after_refusals = (_counts(), _audit_and_log())
    # Actions the role may run come last: they may write (an export is audited).
    wrong += [w for c in permitted_actions if (w := _check(client, c, secrets))]

    assert wrong == []
    assert after_refusals == start
    if role in READ_ONLY:
        # A manager's one write: approving mass sends (issue #18), which adds no row.
        allowed = ["approve"] if role == "manager" else []
        assert [c.action for c in permitted_actions] == allowed
        assert (_counts(), _audit_and_log()) == start
    # The walk covered every registered admin: five pages a model, and every action.
    assert len(reads) >= 5 * len(admin.site._registry)
    assert sum(1 for c in cells if c.action) == sum(
        len(ma._get_base_actions()) for ma in admin.site._registry.values()
    )
    assert re.search(r"/admin/crm/customer/merge/", " ".join(c.path for c in cells))
