"""POS devices: the credential a store's till uses to call the POS API, apart from staff roles."""

import hashlib
import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .orders import Store

KEY_PREFIX = "pos_"


def hash_device_key(key: str) -> str:
    """SHA-256 (hex) of a device key: what is stored and looked up. The key itself has 256 random
    bits, so a fast hash is enough (nothing to brute-force as with a password)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_device_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class PosDeviceQuerySet(models.QuerySet["PosDevice"]):
    def for_key(self, key: str) -> "PosDevice | None":
        """The active device of an open store that holds `key`, or None."""
        if not key.startswith(KEY_PREFIX) or len(key) > 100:
            return None
        return (
            self.select_related("store")
            .filter(key_hash=hash_device_key(key), active=True, store__active=True)
            .first()
        )


class PosDevice(models.Model):
    """A till (a POS terminal, or one store's POS system) allowed to call the POS API
    (`Authorization: PosDevice <key>`) for its `store` only.

    The key is random and shown once when issued (`members.actions.pos.issue_pos_device_key`);
    only its SHA-256 is stored, with its first characters (`key_prefix`) to tell keys apart.
    Issuing a new key replaces the old one at once. A device that is not `active`, or whose store
    is closed, is refused. It is no staff user: staff tokens do not reach the POS API, and a
    device reaches nothing else. `last_used_at` is updated at most every few minutes.
    """

    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="pos_devices"
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("e.g. Till 1"))
    key_prefix = models.CharField(_("key begins with"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        "auth.User",
        verbose_name=_("created by"),
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    key_issued_at = models.DateTimeField(_("key issued at"), null=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, editable=False)

    objects = PosDeviceQuerySet.as_manager()

    class Meta:
        ordering = ["store__code", "name"]
        verbose_name = _("POS device")
        verbose_name_plural = _("POS devices")

    def __str__(self) -> str:
        return f"{self.store.code} {self.name}"

    def __repr__(self) -> str:  # never the hash: it identifies the key
        return f"<PosDevice {self.pk} {self.key_prefix}…>"
