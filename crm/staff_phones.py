"""Customers' phones in the staff pages (admin, inbox): one masking rule, the API's.

Whoever lacks `crm.view_customer_phone` sees `crm.security.mask_phone` (`138****8000`) wherever a
phone is shown to them, and finds a customer by phone only by typing the whole number (compared
exactly in its normalised form): a substring search would give the hidden digits away one query
at a time. Those who may see phones keep the substring search.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import normalize_phone
from .security import mask_phone, may_see_phone


def shown_phone(user, phone: str) -> str:
    """The phone as this user may see it: whole with the permission, masked without."""
    return phone if may_see_phone(user) else mask_phone(phone)


def _is_phone_lookup(search_field: str) -> bool:
    return search_field.lstrip("^=@").split("__")[-1] == "phone"


class PhoneSearchAdminMixin:
    """For every ModelAdmin whose `search_fields` reach a phone (`phone`, `customer__phone`):
    users without the phone permission do not search phones by substring; a search term that
    is a whole phone number matches it exactly, for everyone."""

    def get_search_fields(self, request):
        fields = super().get_search_fields(request)
        if may_see_phone(request.user):
            return fields
        return [f for f in fields if not _is_phone_lookup(f)]

    def get_search_results(self, request, queryset, search_term):
        results, distinct = super().get_search_results(request, queryset, search_term)
        try:
            phone = normalize_phone(search_term)
        except ValidationError:
            return results, distinct
        lookups = [f.lstrip("^=@") for f in self.search_fields if _is_phone_lookup(f)]
        for lookup in lookups if phone else ():
            # From the queryset as given (list filters applied), not from every row.
            results |= queryset.filter(**{lookup: phone})
        return results, distinct


class MaskedPhoneInput(forms.TextInput):
    """A phone input for users who may not see the number: the stored phone is shown masked
    beside an empty input; typing a number replaces it."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = {**(attrs or {}), "placeholder": _("Type a new number to replace it")}
        current = format_html('<span class="masked-phone">{}</span> ', mask_phone(value or ""))
        return current + super().render(name, None, attrs, renderer)


class MaskedPhoneField(forms.CharField):
    """The customer's phone, write-only: an empty input keeps the stored number (which the
    form's initial holds and the page never shows)."""

    widget = MaskedPhoneInput

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", _("Leave empty to keep the current number."))
        super().__init__(required=False, **kwargs)

    def _clean_bound_field(self, bf):
        typed = bf.data
        return self.clean(bf.initial if typed in self.empty_values else typed)

    def has_changed(self, initial, data):
        return data not in self.empty_values and data != initial
