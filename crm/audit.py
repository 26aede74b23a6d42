"""Writing the audit log (crm.models.AuditEntry).

The actions that perform a sensitive operation call `record_audit` themselves (exports, merges,
deletions, erasure, data exports). Secret changes are caught for every model of every app by one
`pre_save` receiver that compares the stored and the new value of each EncryptedTextField and
records which field changed, never either value. Its actor is the user of the current request,
which `crm.security.SecurityMiddleware` puts in `current_actor`.
"""

from contextvars import ContextVar
from typing import Any

from .fields import EncryptedTextField

current_actor: ContextVar[Any] = ContextVar("crm_audit_actor", default=None)


def _actor(by):
    if by is None:
        # The middleware stores a function, not request.user: under ASGI, asgiref inspects every
        # context variable between threads, which would load a lazy user in the event loop.
        by = current_actor.get()
        by = by() if callable(by) else by
    if by is not None and getattr(by, "is_authenticated", False):
        return by
    return None


def record_audit(action: str, object_type: str, object_id: Any = "", summary: str = "", *, by=None):
    """Write one AuditEntry. `by` defaults to the user of the current request (None: system)."""
    from .models import AuditEntry

    actor = _actor(by)
    return AuditEntry.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=action,
        object_type=object_type,
        object_id="" if object_id is None else str(object_id)[:64],
        summary=str(summary)[:500],
    )


def _secret_fields(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


def audit_secret_changes(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """pre_save receiver: one `secret_change` entry per EncryptedTextField whose value changes.

    A new row with a secret set counts as a change (the secret was set). Loading fixtures (`raw`)
    is not audited.
    """
    names = _secret_fields(sender)
    if raw or not names:
        return
    if update_fields is not None:
        names = [n for n in names if n in update_fields]
    old: dict[str, Any] = {}
    if instance.pk is not None:
        old = sender._base_manager.filter(pk=instance.pk).values(*names).first() or {}
    changed = [n for n in names if (getattr(instance, n) or "") != (old.get(n) or "")]
    if not changed:
        return
    from .models import AuditAction

    label = sender._meta.label
    for name in changed:
        verbose = str(sender._meta.get_field(name).verbose_name)
        record_audit(
            AuditAction.SECRET_CHANGE,
            label,
            instance.pk or "",
            f"{label}.{name} ({verbose}) {'changed' if old.get(name) else 'set'} on {instance}",
        )
