"""members models, split by topic: membership and points, orders and payments, coupons."""

from .coupons import Coupon, CouponKind, CouponTemplate, IssuedVia  # noqa: F401
from .membership import (  # noqa: F401
    JoinedVia,
    Membership,
    PayerOpenid,
    PointsEntry,
    PointsKind,
    Tier,
    customer_tier_name,
)
from .orders import (  # noqa: F401
    MerchantConfig,
    Order,
    OrderChannel,
    OrderStatus,
    PaymentNotification,
    PosCharge,
    Refund,
    Store,
)
from .phone import PhoneVerification  # noqa: F401
from .pos import PosDevice  # noqa: F401
