"""The base of admins for records that only actions write (ledgers, merge records, refunds, the
audit log): nobody adds, changes or deletes them in the admin, superusers included."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
