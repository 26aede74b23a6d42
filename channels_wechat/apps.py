from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsWechatConfig(AppConfig):
    name = "channels_wechat"
    verbose_name = _("WeChat")
    # Conversations and messages are crm models: their permissions are granted in crm/apps.py.
    role_permissions: dict[str, list[str]] = {
        "marketing": [
            f"{verb}_{model}"
            for model in ("officialaccount", "autoreplyrule", "cannedresponse")
            for verb in ("view", "add", "change")
        ]
        + ["view_wechatuser", "delete_autoreplyrule", "delete_cannedresponse"]
        + ["view_channelcode", "add_channelcode", "change_channelcode", "view_channelcodescan"]
        + ["view_masssend", "add_masssend", "change_masssend", "view_masssendbatch"]
        + ["view_masssendrecipient", "view_wechattag", "add_wechattag", "change_wechattag"]
        + [
            "view_messagetemplate",
            "change_messagetemplate",
            "view_templatesend",
            "add_templatesend",
        ]
        + [f"{verb}_templatebinding" for verb in ("view", "add", "change", "delete")]
        + ["view_subscribeconsent"],
        "agent": [
            "view_officialaccount",
            "view_wechatuser",
            "view_cannedresponse",
            "view_channelcode",
        ],
        # Managers read every model (crm.roles); they also approve mass sends.
        "manager": ["approve_masssend"],
    }

    def ready(self) -> None:
        from crm.canned import register_canned_responses
        from crm.handoff import register_handoff_oauth, register_handoff_qr_provider
        from crm.history import register_history_handlers
        from crm.inbox import register_sender
        from crm.ingestion import register_processor
        from crm.panels import register_customer_panel
        from crm.privacy import register_erasure_step, register_personal_fields
        from crm.send_errors import register_send_errors

        from . import (
            hooks,  # noqa: F401  (its account cache follows account changes)
            journey_steps,
            tasks,  # noqa: F401  (registers the tasks)
        )
        from .codes import register_purpose_handler
        from .panels import SEND_ERRORS

        journey_steps.register()
        register_processor(
            "wechat",
            "channels_wechat.tasks.process_wechat_delivery_task",
            batch="channels_wechat.ingest.process_batch",
        )
        register_sender(
            "wechat",
            "channels_wechat.actions.send_message",
            "channels_wechat.actions.resolve_address",
        )
        register_customer_panel("channels_wechat.panels.customer_panel")
        register_canned_responses("channels_wechat.panels.canned_responses")
        register_send_errors(SEND_ERRORS)
        register_history_handlers("channels_wechat.history.HANDLERS")
        register_personal_fields({"channels_wechat.WeChatUser": ["nickname", "remark"]})
        register_erasure_step("channels_wechat.erasure.erase_wechat_identities")
        register_handoff_qr_provider("channels_wechat.handoff.handoff_qr")
        register_handoff_oauth("channels_wechat.handoff_oauth")
        register_purpose_handler(
            "weibo_handoff", "channels_wechat.handoff_claim.claim_through_code"
        )
        self._register_templates()

    def _register_templates(self) -> None:
        """Template and subscription messages: their pushed events and the notice router."""
        from members.notices import register_notice_router

        from .ingest import register_event_handler

        register_event_handler(
            "TEMPLATESENDJOBFINISH", "channels_wechat.template_events.template_job_finished"
        )
        register_event_handler("MASSSENDJOBFINISH", "channels_wechat.mass.events.record_job_finish")
        for event in ("popup", "change", "sent"):
            register_event_handler(
                f"subscribe_msg_{event}_event", "channels_wechat.template_events.subscribe_event"
            )
        register_notice_router("channels_wechat.template_notices.route_notice")
