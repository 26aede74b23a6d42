"""How a till authenticates to the POS API: `Authorization: PosDevice <key>`.

The key is a `PosDevice`'s (one per till, bound to one store, created in the admin by marketing).
Staff tokens and sessions do not reach the POS API, and a device key reaches nothing else: the
POS viewset uses only these classes, every other API view only the default ones.
"""

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from ..actions.pos import authenticate_pos_device
from ..models import PosDevice

KEYWORD = "PosDevice"
NEEDS_DEVICE = _("The POS API takes a POS device key: Authorization: PosDevice <key>.")


class PosDeviceAuthentication(BaseAuthentication):
    """`request.auth` is the PosDevice; `request.user` is anonymous (a till is no staff user)."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid POS device header."))
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Invalid POS device header.")) from None
        device = authenticate_pos_device(key)
        if device is None:
            raise exceptions.AuthenticationFailed(_("Unknown or inactive POS device key."))
        return AnonymousUser(), device

    def authenticate_header(self, request):
        return KEYWORD  # so a request without a device key gets 401, not 403


class IsPosDevice(BasePermission):
    message = NEEDS_DEVICE

    def has_permission(self, request, view):
        return isinstance(request.auth, PosDevice)


class PosDeviceThrottle(SimpleRateThrottle):
    """Requests per device at the per-user API rate (`DEFAULT_THROTTLE_RATES["user"]`, read at
    each request), so the tills of one shop behind one address do not share a budget."""

    scope = "user"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, PosDevice):
            return self.cache_format % {"scope": "posdevice", "ident": request.auth.pk}
        return None


class PosDeviceScheme(OpenApiAuthenticationExtension):
    """The API schema names the device key as the POS endpoints' security scheme."""

    target_class = "members.api.pos_auth.PosDeviceAuthentication"
    name = "posDeviceKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": str(_("A POS device key: `PosDevice <key>`.")),
        }
