"""The one way an app builds its API router (`<app>/api/urls.py`).

Each app's API urls module sets `app_name` (its URL namespace, "<app>-api") and registers its
viewsets on `api_router()`; crm/urls.py mounts them all under /api/v1/.
"""

from rest_framework.routers import DefaultRouter, SimpleRouter


def api_router(*, root: bool = False, optional_slash: bool = False) -> SimpleRouter:
    """A router for one app's viewsets.

    `root`: also serve the browsable API root at the mount point (crm's router alone, so
    /api/v1/ has one root). `optional_slash`: every route answers with or without its trailing
    slash (POS systems post to `/api/v1/pos/charges`); otherwise the slash is required, as
    DRF's routers have it.
    """
    router = DefaultRouter() if root else SimpleRouter()
    if optional_slash:
        # DRF's `trailing_slash` argument only takes True/False; the attribute is the regex.
        router.trailing_slash = "/?"
    return router
