"""Service-level policies, each conversation's SLA clock, and the breaches recorded.

Targets are in business time (`crm.business_time`, with the hours of the conversation's account
and team): first response within N business minutes of opening, each next response within M
business minutes of the customer's message that follows an agent's answer, resolution within K
business hours of opening. The clock's due times are computed when the conversation opens and
when the customer writes again; a breach is recorded once per target and due time, by the
events (an answer or a resolution after the due time) or by the beat task
`crm.tasks.check_sla_breaches_task`, whichever comes first. The writes are in `crm.actions.sla`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .teams import Team


class SlaPolicy(models.Model):
    """Targets for the conversations of an account and team. The most specific active policy
    applies: (account, team), then (any account, team), then (account, any team), then (any, any).
    `warn_percent`: the conversation shows a warning badge once that share of the target is used.
    """

    name = models.CharField(_("name"), max_length=64)
    account = models.CharField(
        _("account"), max_length=64, blank=True, help_text=_("appid or Weibo uid; empty: all")
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sla_policies",
    )
    first_response_minutes = models.PositiveIntegerField(_("first response (business minutes)"))
    next_response_minutes = models.PositiveIntegerField(_("next response (business minutes)"))
    resolution_hours = models.PositiveIntegerField(_("resolution (business hours)"))
    warn_percent = models.PositiveSmallIntegerField(_("warn at (% of the target)"), default=80)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["account", "team", "name"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(first_response_minutes__gt=0)
                & Q(next_response_minutes__gt=0)
                & Q(resolution_hours__gt=0),
                name="sla_targets_positive",
            ),
            models.CheckConstraint(
                condition=Q(warn_percent__gte=1, warn_percent__lte=100),
                name="sla_warn_percent_1_to_100",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SlaTarget(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    RESOLUTION = "resolution", _("Resolution")


class SlaClock(models.Model):
    """A conversation's SLA timers: the policy that applied when it opened, the due times, and
    the outcomes. `*_met` is None while undecided, True when the target was met (in time),
    False when it was breached. `next_response_due` is set while the customer waits for an
    answer after having been answered before; `next_met` and `next_breached` count the next
    responses in time and late."""

    conversation = models.OneToOneField(
        "crm.Conversation",
        verbose_name=_("conversation"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="sla",
    )
    policy = models.ForeignKey(
        SlaPolicy, verbose_name=_("policy"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_response_due = models.DateTimeField(_("first response due"), null=True, blank=True)
    first_response_warn = models.DateTimeField(null=True, blank=True)
    first_response_met = models.BooleanField(_("first response in time"), null=True)
    next_response_due = models.DateTimeField(_("next response due"), null=True, blank=True)
    next_response_warn = models.DateTimeField(null=True, blank=True)
    next_met = models.PositiveIntegerField(_("next responses in time"), default=0)
    next_breached = models.PositiveIntegerField(_("next responses late"), default=0)
    resolution_due = models.DateTimeField(_("resolution due"), null=True, blank=True)
    resolution_warn = models.DateTimeField(null=True, blank=True)
    resolution_met = models.BooleanField(_("resolved in time"), null=True)

    class Meta:
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")
        indexes = [
            models.Index(
                fields=["first_response_due"],
                condition=Q(first_response_met__isnull=True),
                name="sla_first_due_open",
            ),
            models.Index(
                fields=["next_response_due"],
                condition=Q(next_response_due__isnull=False),
                name="sla_next_due_open",
            ),
            models.Index(
                fields=["resolution_due"],
                condition=Q(resolution_met__isnull=True),
                name="sla_resolution_due_open",
            ),
        ]

    def __str__(self) -> str:
        return f"SLA #{self.conversation_id}"

    def timers(self, now=None) -> list[dict]:
        """The targets still running, soonest first: {target, label, due, state} with state
        "ok", "warning" (past the policy's warn share) or "breached" (past due). From the stored
        times only (no query), so the inbox list can show them for every row."""
        now = now or timezone.now()
        running = []
        active = self.conversation.status in ("open", "pending")
        answered = self.conversation.first_response_at is not None
        if not answered and self.first_response_due and active:
            running.append(
                (SlaTarget.FIRST_RESPONSE, self.first_response_due, self.first_response_warn)
            )
        if self.next_response_due and active:
            running.append(
                (SlaTarget.NEXT_RESPONSE, self.next_response_due, self.next_response_warn)
            )
        if self.resolution_due and active:
            running.append((SlaTarget.RESOLUTION, self.resolution_due, self.resolution_warn))
        out = []
        for target, due, warn in sorted(running, key=lambda r: r[1]):
            state = "breached" if due <= now else "warning" if warn and warn <= now else "ok"
            out.append(
                {
                    "target": target.value,
                    "label": target.label,
                    "due": due,
                    "state": state,
                    "minutes": int((due - now).total_seconds() // 60),
                }
            )
        return out

    def badge(self, now=None) -> str:
        """The worst state of the running timers: "breached", "warning", "ok" or "" (none)."""
        states = {t["state"] for t in self.timers(now)}
        for state in ("breached", "warning", "ok"):
            if state in states:
                return state
        return ""


class SlaBreach(models.Model):
    """A target missed: which conversation, which target, when it was due (`due_at`, the moment
    of the breach), when it was recorded, and whose it was (the assignee and team then)."""

    conversation = models.ForeignKey(
        "crm.Conversation",
        verbose_name=_("conversation"),
        on_delete=models.CASCADE,
        related_name="sla_breaches",
    )
    target = models.CharField(_("target"), max_length=16, choices=SlaTarget.choices)
    due_at = models.DateTimeField(_("due at"))
    recorded_at = models.DateTimeField(_("recorded at"))
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["-due_at", "-id"]
        verbose_name = _("SLA breach")
        verbose_name_plural = _("SLA breaches")
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "target", "due_at"], name="one_breach_per_due_time"
            )
        ]
        indexes = [models.Index(fields=["due_at"])]

    def __str__(self) -> str:
        return f"#{self.conversation_id} {self.get_target_display()} {self.due_at:%Y-%m-%d %H:%M}"
