from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_save
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Customers")
    role_permissions = {
        "marketing": [
            f"{verb}_{model}"
            for model in ("customer", "tag", "segment", "lead", "note", "journey", "journeystep")
            for verb in ("view", "add", "change", "delete")
        ]
        + [
            "merge_customer",
            "export_customer",
            "view_customer_phone",
            "erase_customer",
            "view_interaction",
            "view_mergerecord",
            "view_customerkey",
            "view_journeyenrollment",
            "view_journeysteprun",
            # Conversation labels (crm.models.labels) are defined by marketing; customer imports.
            "view_conversationlabel",
            "add_conversationlabel",
            "change_conversationlabel",
            "delete_conversationlabel",
            "view_customerimport",
            "view_handoff",
        ],
        "agent": [
            "view_customer",
            "change_customer",
            "view_tag",
            "view_segment",
            "view_lead",
            "add_lead",
            "change_lead",
            "view_note",
            "add_note",
            "view_interaction",
            # The inbox (crm.inbox.pages, the channels' conversation APIs): read, answer,
            # assign and resolve the conversations of every channel.
            "view_conversation",
            "change_conversation",
            "view_message",
            "add_message",
            # Labels on conversations (change_conversation), private notes and @-mentions.
            "view_conversationlabel",
            "view_conversationnote",
            "add_conversationnote",
            "view_notification",
            "change_notification",
            # Teams, hours and SLA targets: read (crm.inbox.teams shows them beside a chat).
            "view_team",
            "view_teammembership",
            "view_businesshours",
            "view_holidayexception",
            "view_slapolicy",
        ],
        # Managers read every model anyway (crm.roles); this one is a read-only object rule.
        "manager": ["see_all_conversations"],
    }

    def ready(self) -> None:
        from . import checks, journey_steps, tasks  # noqa: F401  (registers deploy checks and tasks)
        from .audit import audit_secret_changes
        from .inbox.config import watch_config
        from .roles import sync_roles

        journey_steps.register()
        post_migrate.connect(sync_roles, dispatch_uid="crm.sync_roles")
        watch_config()  # the routing and SLA configuration cache (crm.inbox.config)
        # Every model of every app: a secret change is audited wherever it happens.
        pre_save.connect(audit_secret_changes, dispatch_uid="crm.audit_secret_changes")
