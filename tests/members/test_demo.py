import io

from devtools.demo import members as demo
from members.models import Coupon, Membership, MerchantConfig, Order, PointsEntry, Tier


def test_demo_loads_members_orders_and_coupons_once(db, settings, tmp_path):
    settings.BASE_DIR = tmp_path
    out = io.StringIO()
    demo.load(out)
    counts = (
        Membership.objects.count(),
        Order.objects.count(),
        Coupon.objects.count(),
        PointsEntry.objects.count(),
    )
    assert counts[0] > 100 and counts[1] > 300
    assert Tier.objects.count() == 4
    assert Membership.objects.filter(tier__rank__gte=1).exists()
    assert Coupon.objects.filter(redeemed_at__isnull=False).exists()
    assert Order.objects.filter(status="partially_refunded").count() == 4
    assert all(m.points_balance == m.ledger_sum() for m in Membership.objects.all())
    assert MerchantConfig.objects.get().platform_public_key.startswith("-----BEGIN PUBLIC KEY-----")
    demo.load(out)
    assert (
        Membership.objects.count(),
        Order.objects.count(),
        Coupon.objects.count(),
        PointsEntry.objects.count(),
    ) == counts
    assert "already loaded" in out.getvalue()
