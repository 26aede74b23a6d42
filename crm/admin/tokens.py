"""API tokens in the admin, without their keys: a key acts as its user through the API, so no
page shows it (README "Security"), except once, to the superuser who has just created it.

DRF's own TokenAdmin lists every key, and a token's name is its key, which the admin repeats in
page titles, breadcrumbs, delete pages and the "recent actions" log. Here the token is named
after its user and the key is shown once in the message after adding it.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy


def _token_name(token) -> str:
    return gettext("API token of %(user)s") % {"user": token.user}


# The proxy's name is what the admin prints for a row; Token itself keeps DRF's.
TokenProxy.__str__ = _token_name  # type: ignore[method-assign]


class KeylessTokenAdmin(TokenAdmin):
    list_display = ("user", "created")
    readonly_fields = ()

    def get_readonly_fields(self, request, obj=None):
        # An existing token is replaced by deleting it and adding a new one, never edited.
        return ("user",) if obj is not None else ()

    def response_add(self, request, obj, post_url_continue=None):
        response = super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            _("The key of this token is %(key)s. Copy it now: it is not shown again.")
            % {"key": obj.key},
            messages.WARNING,
        )
        return response


admin.site.unregister(TokenProxy)
admin.site.register(TokenProxy, KeylessTokenAdmin)
