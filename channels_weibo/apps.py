from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _crud(*models: str) -> list[str]:
    return [f"{verb}_{m}" for m in models for verb in ("view", "add", "change", "delete")]


class ChannelsWeiboConfig(AppConfig):
    name = "channels_weibo"
    verbose_name = _("Weibo")
    role_permissions: dict[str, list[str]] = {
        "marketing": _crud(
            "keywordrule", "campaign", "campaignkol", "scheduledpost", "keywordalert"
        )
        + [
            "view_weiboaccount",
            "change_weiboaccount",
            "view_weibouser",
            "change_weibouser",
            "view_weibopost",
            "view_weibocomment",
            "view_followersnapshot",
        ],
        "agent": ["view_weiboaccount", "view_weibouser", "view_weibopost", "view_weibocomment"],
    }

    def ready(self) -> None:
        from crm.actions.leads import register_leads_changed
        from crm.handoff import register_handoff_sender
        from crm.history import register_history_handlers
        from crm.inbox import register_sender
        from crm.ingestion import register_processor
        from crm.panels import register_customer_panel
        from crm.privacy import register_erasure_step, register_personal_fields

        from . import (
            hooks,  # noqa: F401  (its account cache follows account changes)
            tasks,  # noqa: F401  (registers the tasks)
        )

        register_processor(
            "weibo",
            "channels_weibo.tasks.process_fanservice_delivery_task",
            batch="crm.ingestion.one_by_one",  # pushes request a drain, not a task each
        )
        register_sender(
            "weibo",
            "channels_weibo.fanservice.send_message",
            "channels_weibo.fanservice.address_for",
        )
        register_customer_panel("channels_weibo.panels.customer_panel")
        register_history_handlers("channels_weibo.history.HANDLERS")
        register_personal_fields(
            {
                "channels_weibo.WeiboUser": ["screen_name", "location", "gender", "avatar_url"],
                "channels_weibo.WeiboPost": ["text", "parent_name", "raw"],
                "channels_weibo.WeiboComment": ["text", "raw"],
                "channels_weibo.KeywordAlert": ["text"],
            }
        )
        register_erasure_step("channels_weibo.erasure.erase_weibo_identities")
        register_handoff_sender("channels_weibo.handoff.send_handoff_link")
        register_leads_changed("channels_weibo.lead_credit.credit_changed_leads")
