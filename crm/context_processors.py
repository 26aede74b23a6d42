"""Template context shared by the staff pages that extend the admin's base template outside the
admin (inbox, Weibo listening, campaigns, dashboards): the site's name and the user links."""

from django.contrib import admin


def admin_site(request) -> dict:
    user = getattr(request, "user", None)
    return {
        "site_header": admin.site.site_header,
        "site_title": admin.site.site_title,
        "site_url": admin.site.site_url,
        "has_permission": bool(user and user.is_active and user.is_staff),
    }
