from rest_framework.routers import DefaultRouter

from . import views

# DRF uses trailing_slash as the URL pattern's slash regex; the stubs type it as bool.
router = DefaultRouter(trailing_slash="/?")  # type: ignore[arg-type]
router.register("customers", views.CustomerViewSet)
router.register("tags", views.TagViewSet)
router.register("segments", views.SegmentViewSet)
router.register("leads", views.LeadViewSet)

urlpatterns = router.urls
