"""Named multi-model writes of the members app. Each owns its transaction and says what it raises.

- membership: join_membership, join_with_phone, earn/spend/adjust/expire points, recompute_tier,
  merge_memberships (the membership part of crm's merge_customers)
- orders: create_order, mark_order_paid, apply_paid_effects, refund_order,
  refund_through_platform, record_cash_sale, link_payer_openid, reconcile_unpaid_orders
- coupons: issue_coupon, issue_to_segment, redeem_coupon
- payments: apply_payment_notification (what a stored WeChat Pay notification does)
"""

from .coupons import CouponError, issue_coupon, issue_to_segment, redeem_coupon  # noqa: F401
from .errors import ActionError  # noqa: F401
from .membership import (  # noqa: F401
    PointsError,
    adjust_points,
    earn_points,
    expire_points,
    join_membership,
    join_with_phone,
    merge_memberships,
    recompute_tier,
    spend_points,
)
from .orders import (  # noqa: F401
    OrderError,
    create_order,
    link_payer_openid,
    mark_order_paid,
    reconcile_unpaid_orders,
    record_cash_sale,
    refund_order,
    refund_through_platform,
)
