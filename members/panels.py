"""The members panel on a customer's page: membership, tier, points, last orders, coupons."""

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from .models import Coupon, Membership, Order


def customer_panel(customer):
    membership = Membership.objects.filter(customer=customer).select_related("tier").first()
    orders = list(Order.objects.filter(customer=customer).select_related("store")[:5])
    coupons = list(Coupon.objects.filter(customer=customer).select_related("template")[:5])
    if membership is None and not orders and not coupons:
        return None
    html = render_to_string(
        "members/panel.html", {"membership": membership, "orders": orders, "coupons": coupons}
    )
    return _("Membership and orders"), html
