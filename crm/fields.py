"""EncryptedTextField: secrets (app secrets, tokens, AES keys) encrypted at rest.

The key comes from FIELD_ENCRYPTION_KEY (a Fernet key: `python -c "from cryptography.fernet
import Fernet; print(Fernet.generate_key().decode())"`), or in development from SECRET_KEY.
Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256); the database never sees plaintext.

No page ever shows a secret back (issue #14): in any ModelForm the field is a `SecretFormField`,
a write-only input after "set" / "not set" (an empty input keeps the stored value), and
`SecretFieldsAdminMixin` shows view-only users the same state instead of the value.
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django import forms
from django.conf import settings
from django.db import models
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _


@lru_cache(maxsize=4)
def _fernet(key: str, secret_key: str) -> Fernet:
    if key:
        return Fernet(key.encode())
    derived = hashlib.sha256(("field-encryption:" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; reads give back the plaintext."""

    prefix = "enc1:"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return self.prefix + fernet().encrypt(str(value).encode()).decode()

    def from_db_value(self, value, expression, connection):
        if value in (None, "") or not value.startswith(self.prefix):
            return value
        try:
            return fernet().decrypt(value[len(self.prefix) :].encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "A stored secret cannot be decrypted: FIELD_ENCRYPTION_KEY has changed."
            ) from exc

    def formfield(self, **kwargs):
        # Every ModelForm (the admin's included) gets the write-only secret input.
        return super().formfield(**{"form_class": SecretFormField, **kwargs})


# Forms and the admin ----------------------------------------------------------------------------


def secret_state(value) -> str:
    """The only thing a page may say about a secret: whether it is set."""
    if value:
        return format_html('<span class="secret-state secret-set">{}</span>', _("Set"))
    return format_html('<span class="secret-state secret-unset">{}</span>', _("Not set"))


class SecretInput(forms.PasswordInput):
    """A password input that never renders the value, preceded by "set" / "not set"."""

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "new-password", **(attrs or {})}, render_value=False)

    def render(self, name, value, attrs=None, renderer=None):
        return format_html(
            "{} {}", secret_state(value), super().render(name, value, attrs, renderer)
        )


class SecretFormField(forms.CharField):
    """A write-only secret: a typed value replaces the stored one, an empty input keeps it.

    The stored value comes back as the bound field's initial (the ModelForm's instance data) and
    is used when nothing was typed; a required secret that is neither typed nor stored is the
    usual "This field is required." error.
    """

    widget = SecretInput

    def __init__(self, *, max_length=None, **kwargs):
        kwargs.setdefault("help_text", _("Leave empty to keep the current value."))
        kwargs.pop("widget", None)  # a model TextField asks for a Textarea: never for a secret
        super().__init__(max_length=max_length, strip=True, widget=SecretInput, **kwargs)

    def _clean_bound_field(self, bf):
        typed = bf.data
        if typed in self.empty_values and bf.initial not in self.empty_values:
            return self.clean(bf.initial)
        return self.clean(typed)

    def has_changed(self, initial, data):
        return data not in self.empty_values and data != initial


class SecretFieldsAdminMixin:
    """For a ModelAdmin of a model with EncryptedTextFields: to a user who may only view the
    row, each secret field is shown as "set" / "not set" instead of its value. (To users who may
    change it, the form's SecretInput already does the same and adds the write-only input.)"""

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        secrets = {
            f.name: _state_display(f)
            for f in self.model._meta.concrete_fields
            if isinstance(f, EncryptedTextField)
        }
        return [
            (
                title,
                {
                    **opts,
                    "fields": [
                        secrets.get(n, n) if isinstance(n, str) else n for n in opts["fields"]
                    ],
                },
            )
            for title, opts in fieldsets
        ]


def _state_display(field):
    def display(obj):
        return secret_state(getattr(obj, field.attname))

    display.short_description = field.verbose_name  # type: ignore[attr-defined]
    display.__name__ = field.name
    return display


def staff_reference(verbose_name) -> models.ForeignKey:
    """The staff member who did something to a row (resolved it, refunded it, merged it...): kept
    as None when that user is deleted, and no reverse accessor on the user."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
