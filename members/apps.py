from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _crud(*models: str) -> list[str]:
    return [f"{verb}_{m}" for m in models for verb in ("view", "add", "change", "delete")]


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = _("Members")
    # Marketing runs the programme (tiers, coupons, members, refunds) and registers the stores'
    # POS devices; agents and store staff look members up and redeem coupons. No role takes POS
    # charges or sales: tills call the POS API with a POS device key, never a staff token.
    role_permissions: dict[str, list[str]] = {
        "marketing": _crud("tier", "membership", "coupontemplate", "coupon", "store", "posdevice")
        + [
            "view_pointsentry",
            "add_pointsentry",
            "view_order",
            "change_order",
            "view_refund",
            "add_refund",
            "view_paymentnotification",
            "view_poscharge",
            "view_payeropenid",
            "view_phoneverification",
        ],
        "agent": [
            "view_tier",
            "view_membership",
            "add_membership",
            "view_pointsentry",
            "view_coupon",
            "change_coupon",
            "view_coupontemplate",
            "view_order",
            "view_store",
            "view_poscharge",
        ],
    }

    def ready(self) -> None:
        from crm.actions import register_merge_handler
        from crm.history import register_history_handlers
        from crm.inbox.routing import register_tier_lookup
        from crm.ingestion import register_processor
        from crm.panels import register_customer_panel
        from crm.privacy import register_erasure_step, register_personal_fields

        from . import (
            hooks,  # noqa: F401  (its account cache follows account changes)
            journey_steps,
            tasks,  # noqa: F401  (registers the tasks)
        )

        journey_steps.register()

        register_processor(
            "wechatpay",
            "members.tasks.process_payment_notification_task",
            batch="crm.ingestion.one_by_one",  # notifications request a drain, not a task each
        )
        register_customer_panel("members.panels.customer_panel")
        register_tier_lookup("members.models.customer_tier_name")  # tier routing rules
        register_history_handlers("members.history.HANDLERS")
        register_personal_fields(
            {
                "members.Membership": [],
                "members.Order": ["description"],
                "members.Refund": ["reason"],
                "members.PaymentNotification": ["data"],
                "members.PointsEntry": [],
                "members.PayerOpenid": [],
                "members.Coupon": [],
                "members.PhoneVerification": [],  # deleted (erase_phone_verifications)
            }
        )
        register_erasure_step("members.erasure.erase_payer_identities")
        register_erasure_step("members.erasure.erase_phone_verifications")
        register_merge_handler("members.Membership", "members.actions.membership.merge_memberships")
