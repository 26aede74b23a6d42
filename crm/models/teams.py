"""Customer-service teams, their agents' presence, and the rules that route new conversations.

A conversation belongs to a team (`Conversation.team`, set when it opens, by the routing rules of
its account) and to at most one agent of it. Agents see their teams' conversations; managers and
members with `see_all` see every team's. The writes are actions in `crm.actions.routing`; the
pages are in `crm.inbox.teams`.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Team(models.Model):
    """A group of agents who share a queue (售前 pre-sales, 售后 after-sales, ...).

    `default` marks the team that takes a conversation no routing rule of its account places
    (at most one). `return_after_minutes`: when an agent of this team has been offline that long,
    their open conversations go back to the team queue; empty keeps them with the agent until a
    manager reassigns them.
    """

    name = models.CharField(_("name"), max_length=64, unique=True)
    default = models.BooleanField(
        _("default team"),
        default=False,
        help_text=_("Takes the conversations that no routing rule places."),
    )
    return_after_minutes = models.PositiveIntegerField(
        _("return to queue after (minutes offline)"),
        null=True,
        blank=True,
        help_text=_(
            "Empty: an agent who goes offline keeps their open conversations until a manager "
            "reassigns them."
        ),
    )
    active = models.BooleanField(_("active"), default=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams", blank=True
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        permissions = [
            ("see_all_conversations", _("Can see the conversations of every team")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["default"], condition=Q(default=True), name="one_default_team"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """An agent in a team: at most `max_open` open or pending conversations are assigned to them
    automatically; `see_all` lets them see every team's conversations."""

    team = models.ForeignKey(
        Team, verbose_name=_("team"), on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.CASCADE,
        related_name="team_memberships",
    )
    max_open = models.PositiveSmallIntegerField(_("maximum open conversations"), default=10)
    see_all = models.BooleanField(_("sees every team"), default=False)
    # Round robin among agents with as few open conversations: the one served longest ago.
    last_assigned_at = models.DateTimeField(_("last assigned at"), null=True, blank=True)

    class Meta:
        ordering = ["team", "user"]
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")
        ]

    def __str__(self) -> str:
        return f"{self.team} · {self.user}"


class Presence(models.TextChoices):
    ONLINE = "online", _("Online")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


def presence_ttl() -> timedelta:
    """How long a presence holds without a heartbeat from the agent's inbox page."""
    return timedelta(seconds=settings.INBOX_PRESENCE_TTL)


class AgentPresence(models.Model):
    """An agent's presence in the inbox. The page sends a heartbeat every few seconds; without
    one for `INBOX_PRESENCE_TTL` seconds the agent counts as offline (their page was closed).
    `offline_since` is when they went offline (set by the expiry task or by choosing offline);
    `offline_chosen` says the agent chose offline, which their page's heartbeats keep (an agent
    marked offline by the expiry comes back online with their page)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.CASCADE,
        related_name="presence",
    )
    status = models.CharField(
        _("presence"), max_length=8, choices=Presence.choices, default=Presence.OFFLINE
    )
    last_seen_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    offline_since = models.DateTimeField(_("offline since"), null=True, blank=True)
    offline_chosen = models.BooleanField(_("chose offline"), default=False)

    class Meta:
        verbose_name = _("agent presence")
        verbose_name_plural = _("agent presence")
        indexes = [models.Index(fields=["status", "last_seen_at"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_status_display()}"

    def effective_status(self, now: datetime | None = None) -> str:
        """The presence as others see it: offline once the heartbeat is older than the TTL."""
        now = now or timezone.now()
        if self.status == Presence.OFFLINE or self.last_seen_at is None:
            return Presence.OFFLINE
        if self.last_seen_at < now - presence_ttl():
            return Presence.OFFLINE
        return self.status


class RoutingRule(models.Model):
    """Where a new conversation of an account goes, tried in `position` order (then id).

    - keyword: the first message contains `value` (case-insensitive);
    - menu: the customer clicked the menu item whose key is `value` within the 30 minutes before;
    - tier: the customer's membership tier is named `value` (the members app tells crm);
    - tag: the customer holds the tag named `value`;
    - default: always (the account's default team).
    The first matching rule places the conversation. A rule whose team was deleted (or made
    inactive) places nothing: routing goes on to the account's default team and the admin says so.
    `account` empty applies to every account.
    """

    class Kind(models.TextChoices):
        KEYWORD = "keyword", _("Keyword in the first message")
        MENU = "menu", _("Menu click")
        TIER = "tier", _("Customer tier")
        TAG = "tag", _("Customer tag")
        DEFAULT = "default", _("Default team of the account")

    account = models.CharField(
        _("account"), max_length=64, blank=True, help_text=_("appid or Weibo uid; empty: all")
    )
    position = models.PositiveIntegerField(_("order"), default=0)
    kind = models.CharField(_("when"), max_length=8, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=100, blank=True)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="routing_rules",
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["account", "position", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        indexes = [models.Index(fields=["account", "position"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value} → {self.team or '—'}"

    def clean(self) -> None:
        if self.kind != self.Kind.DEFAULT and not self.value.strip():
            raise ValidationError({"value": _("This kind of rule needs a value to match.")})
        if self.kind == self.Kind.DEFAULT and self.value.strip():
            raise ValidationError({"value": _("A default rule matches everything: no value.")})

    @property
    def team_missing(self) -> bool:
        """The rule names no usable team (deleted or inactive): it falls back to the default."""
        return self.team is None or not self.team.active


class ConversationTransfer(models.Model):
    """A conversation handed to another agent or team, with the note for whoever takes it."""

    conversation = models.ForeignKey(
        "crm.Conversation",
        verbose_name=_("conversation"),
        on_delete=models.CASCADE,
        related_name="transfers",
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    from_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_team = models.ForeignKey(Team, null=True, on_delete=models.SET_NULL, related_name="+")
    to_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("to agent"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    to_team = models.ForeignKey(
        Team, verbose_name=_("to team"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(_("note"))

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")

    def __str__(self) -> str:
        return f"#{self.conversation_id} → {self.to_agent or self.to_team}"


def sees_every_team(user) -> bool:
    """Managers (`crm.see_all_conversations`), superusers and members given `see_all`. Kept on
    the user object, as Django keeps its permissions there: a request's user, or an open inbox
    socket's (crm.inbox.consumers: its visibility check runs with every batch of events)."""
    cached = getattr(user, "_crm_sees_every_team", None)
    if cached is None:
        cached = (
            user.is_superuser
            or user.has_perm("crm.see_all_conversations")
            or TeamMembership.objects.filter(user_id=user.pk, see_all=True).exists()
        )
        user._crm_sees_every_team = cached
    return cached


def team_scope(queryset, user):
    """The conversations of `queryset` this user may open, by team: every team's for those who
    see every team; otherwise their teams' conversations, those assigned to them, and those in
    no team (opened before teams existed, or no rule and no default team placed them)."""
    if sees_every_team(user):
        return queryset
    mine = TeamMembership.objects.filter(user_id=user.pk).values("team_id")
    return queryset.filter(Q(team__isnull=True) | Q(team_id__in=mine) | Q(assignee_id=user.pk))


def message_team_scope(queryset, user):
    """`team_scope` for messages: those of conversations the user may open, and those in no
    conversation (notices, events before a conversation opened)."""
    if sees_every_team(user):
        return queryset
    mine = TeamMembership.objects.filter(user_id=user.pk).values("team_id")
    return queryset.filter(
        Q(conversation__isnull=True)
        | Q(conversation__team__isnull=True)
        | Q(conversation__team_id__in=mine)
        | Q(conversation__assignee_id=user.pk)
    )
