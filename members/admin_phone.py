"""SMS phone verifications, read-only (members.actions.phone_verification writes them).

The code's HMAC is never shown; the phone is shown masked to everyone (`138****8000`, like the
customer list: the row is about the code, the customer's page has the number for who may see
it), and searched by substring only by those with `crm.view_customer_phone` (crm.staff_phones).
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from crm.admin.readonly import ReadOnlyAdmin
from crm.security import mask_phone
from crm.staff_phones import PhoneSearchAdminMixin

from .models import PhoneVerification


@admin.register(PhoneVerification)
class PhoneVerificationAdmin(PhoneSearchAdminMixin, ReadOnlyAdmin):
    list_display = (
        "number",
        "customer",
        "created_at",
        "expires_at",
        "attempts",
        "verified_at",
        "locked_until",
    )
    list_filter = (("verified_at", admin.EmptyFieldListFilter),)
    search_fields = ("phone",)
    list_select_related = ("customer",)
    date_hierarchy = "created_at"
    # Everything but phone (shown through `number`) and code_hash.
    fields = (
        "number",
        "customer",
        "client_ip",
        "created_at",
        "expires_at",
        "attempts",
        "verified_at",
        "locked_until",
    )
    readonly_fields = fields

    @admin.display(description=_("mobile number"), ordering="phone")
    def number(self, obj: PhoneVerification) -> str:
        return mask_phone(obj.phone)
