from django.urls import re_path

from crm.api.routers import api_router

from . import views

app_name = "members-api"
router = api_router(optional_slash=True)
router.register("members", views.MembershipViewSet)
router.register("coupon-templates", views.CouponTemplateViewSet)
router.register("coupons", views.CouponViewSet)
router.register("orders", views.OrderViewSet)

pos = views.PosChargeViewSet
urlpatterns = router.urls + [
    re_path(r"^pos/charges/?$", pos.as_view({"post": "create"}), name="pos-charge-list"),
    re_path(
        r"^pos/charges/(?P<pk>\d+)/?$", pos.as_view({"get": "retrieve"}), name="pos-charge-detail"
    ),
    re_path(
        r"^pos/charges/(?P<pk>\d+)/qr\.svg$",
        pos.as_view({"get": "qr_svg"}),
        name="pos-charge-qr-svg",
    ),
    re_path(
        r"^pos/charges/(?P<pk>\d+)/qr\.png$",
        pos.as_view({"get": "qr_png"}),
        name="pos-charge-qr-png",
    ),
    re_path(r"^pos/sales/?$", pos.as_view({"post": "sale"}), name="pos-sale"),
    re_path(r"^pos/members/identify/?$", pos.as_view({"post": "identify"}), name="pos-identify"),
]
