from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter(trailing_slash="/?")
router.register("customers", views.CustomerViewSet)
router.register("tags", views.TagViewSet)
router.register("segments", views.SegmentViewSet)
router.register("leads", views.LeadViewSet)

urlpatterns = router.urls
