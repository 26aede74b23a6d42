"""The agents' inbox (/inbox/): WeChat and Weibo private conversations in one list.

Pages: the conversation list (mine / unassigned / all, status, channel, kind, account and
team filters, oldest-waiting first, with how long each has waited and its team) and a
conversation page (the thread, the reply box with canned responses, assign / transfer, resolve,
and the customer's panels and timeline beside it). New messages appear without a reload
through the live socket (crm.inbox.live), polling a fragment only while it cannot connect.

Permissions: seeing the inbox needs `crm.view_conversation`; replying `crm.add_message`;
assigning and resolving `crm.change_conversation`. Which conversations a holder sees is
`visible_conversations`: their teams' unless they see every team (managers). The writes are crm.inbox actions; these views only call
them. crm imports no channel app: canned responses come from the apps that register them
(crm.canned), and platform refusals are explained by error code.
"""

from datetime import datetime

from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F, Q, Value
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ..canned import canned_responses
from ..filtersets import ConversationFilterSet, visible_conversations
from ..models import ACTIVE_STATUSES, Conversation, ConversationStatus, Team, sees_every_team
from ..panels import customer_panels
from ..send_errors import send_error_text
from ..staff_phones import shown_phone
from .agents import assign_conversation, reply, resolve_conversation
from .common import InboxError, SendError


def public_reply_url(conversation: Conversation) -> str | None:
    """Where a complaint case is answered in public, if its channel has such a page (by the URL
    name `<channel>-case-reply`, so crm names no channel app)."""
    if conversation.kind != Conversation.Kind.COMPLAINT:
        return None
    try:
        return reverse(f"{conversation.channel}-case-reply", args=[conversation.pk])
    except NoReverseMatch:
        return None


def _waited(conversation: Conversation, now: datetime) -> int | None:
    if conversation.status != ConversationStatus.OPEN or not conversation.last_inbound_at:
        return None
    return int((now - conversation.last_inbound_at).total_seconds())


@login_required
@permission_required("crm.view_conversation", raise_exception=True)
def conversation_list(request):
    params = request.GET.copy()
    params.setdefault("assigned", "all")
    if "status" not in params:
        params.setlist("status", list(ACTIVE_STATUSES))
    visible = visible_conversations(request.user)
    filterset = ConversationFilterSet(params, queryset=visible, request=request)
    rows = filterset.qs.order_by(
        F("last_inbound_at").asc(nulls_last=True), "opened_at", "id"
    )  # oldest waiting first
    counts = _counts(visible, request.user)
    page = _TabPaginator(rows, 50, count=counts.get(_tab(filterset))).get_page(
        request.GET.get("page")
    )
    now = timezone.now()
    for conversation in page:
        conversation.waited = _waited(conversation, now)
    context = {
        "page": page,
        "filterset": filterset,
        "assigned": params.get("assigned"),
        "statuses": params.getlist("status"),
        "status_choices": ConversationStatus.choices,
        "counts": counts,
        "query": params.urlencode(),
        "teams": _filter_teams(request.user),
    }
    template = "inbox/_rows.html" if request.GET.get("fragment") else "inbox/list.html"
    return render(request, template, context)


def _filter_teams(user) -> list[Team]:
    """The teams the list can be narrowed to: every active team for those who see every team,
    else the user's own (the filter shows when there are two or more)."""
    teams = Team.objects.filter(active=True).order_by("name")
    if not sees_every_team(user):
        teams = teams.filter(memberships__user_id=user.pk)
    return list(teams)


def _counts(visible, user) -> dict[str, int]:
    """The tabs' counts (mine, unassigned, all) of the active conversations in `visible`, in one
    query: one read of the inbox's visibility index instead of three (bench/inbox_routing.py:
    33 ms for an agent who sees 65,000, where the three counts took 110 ms or more)."""
    return visible.filter(status__in=ACTIVE_STATUSES).aggregate(
        # COUNT(1), not COUNT(id): the id is not in the index, so reading it visits the table.
        mine=Count(Value(1), filter=Q(assignee_id=user.pk)),
        unassigned=Count(Value(1), filter=Q(assignee__isnull=True)),
        all=Count(Value(1)),
    )


def _tab(filterset) -> str | None:
    """The tab whose count is the list's own (a tab's conversations, no other filter), if any."""
    data = filterset.form.cleaned_data if filterset.is_valid() else {}
    if set(data.get("status") or ()) != set(ACTIVE_STATUSES):
        return None
    if any(value for name, value in data.items() if name not in ("assigned", "status")):
        return None
    assigned = data.get("assigned")
    return assigned if assigned in ("mine", "unassigned") else "all"


class _TabPaginator(Paginator):
    """A Paginator told its count when a tab count already holds it: the list's own COUNT
    would count the same conversations a second time."""

    def __init__(self, object_list, per_page, *, count: int | None):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        if self._known_count is not None:
            return self._known_count
        return super().count


def _conversation_context(request, conversation: Conversation) -> dict:
    thread = list(conversation.messages.select_related("sender", "media").order_by("sent_at", "id"))
    return {"conversation": conversation, "thread": thread}


@login_required
@permission_required("crm.view_conversation", raise_exception=True)
def conversation_detail(request, pk: int):
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    if request.GET.get("fragment") == "thread":
        return render(request, "inbox/_thread.html", _conversation_context(request, conversation))
    customer = conversation.customer
    context = {
        **_conversation_context(request, conversation),
        "customer": customer,
        "phone": shown_phone(request.user, customer.phone),
        "panels": customer_panels(customer),
        "timeline": customer.interactions.order_by("-occurred_at", "-id")[:30],
        "canned": canned_responses(conversation.account),
        "agents": get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__codename="change_conversation")
            | Q(user_permissions__codename="change_conversation")
        )
        .distinct()
        .order_by("username"),
        "earlier": Conversation.objects.filter(customer=customer)
        .exclude(pk=conversation.pk)
        .order_by("-opened_at")[:5],
        "can_reply": request.user.has_perm("crm.add_message"),
        "public_reply": public_reply_url(conversation),
        "can_change": request.user.has_perm("crm.change_conversation"),
    }
    return render(request, "inbox/detail.html", context)


def _require(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


@login_required
@require_POST
def conversation_reply(request, pk: int):
    _require(request, "crm.add_message")
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    try:
        reply(conversation, request.POST.get("text", ""), agent=request.user)
    except InboxError as exc:
        flash.error(request, " ".join(exc.messages))
    except SendError as exc:
        flash.error(request, send_error_text(exc.code, exc.message))
    else:
        flash.success(request, _("Reply sent."))
    return redirect("inbox:detail", pk=pk)


@login_required
@require_POST
def conversation_assign(request, pk: int):
    _require(request, "crm.change_conversation")
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    agent_id = request.POST.get("agent") or ""
    agent = None
    if agent_id == "me":
        agent = request.user
    elif agent_id:
        agent = get_user_model().objects.filter(pk=agent_id).first()
        if agent is None:
            flash.error(request, _("Unknown agent."))
            return redirect("inbox:detail", pk=pk)
    try:
        assign_conversation(conversation, agent, by=request.user)
    except InboxError as exc:
        flash.error(request, " ".join(exc.messages))
    else:
        if agent is None:
            flash.success(request, _("The conversation is unassigned."))
        else:
            flash.success(
                request, _("Assigned to %(name)s.") % {"name": agent.get_full_name() or agent}
            )
    return redirect("inbox:detail", pk=pk)


@login_required
@require_POST
def conversation_resolve(request, pk: int):
    _require(request, "crm.change_conversation")
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    # A complaint case came from a public post: no satisfaction survey by private message.
    survey = conversation.kind == Conversation.Kind.SERVICE
    try:
        conversation = resolve_conversation(conversation, by=request.user, send_survey=survey)
    except InboxError as exc:
        flash.error(request, " ".join(exc.messages))
        return redirect("inbox:detail", pk=pk)
    if not survey:
        flash.success(request, _("Resolved."))
    elif conversation.survey_sent_at:
        flash.success(request, _("Resolved; the satisfaction survey was sent."))
    else:
        flash.warning(
            request, _("Resolved; the satisfaction survey could not be delivered to the customer.")
        )
    return redirect("inbox:detail", pk=pk)
