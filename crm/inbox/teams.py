"""The inbox's team pages: presence (set and heartbeat, JSON for static/crm/inbox_presence.js)
and transfer to an agent or a team with a note. The writes are crm.inbox.routing actions.

Permissions: both need `crm.change_conversation` (agents and superusers); managers read and
change nothing, so they get 403. A transfer needs the conversation to be visible to the user
(their team's, crm.models.teams.team_scope): another team's conversation is a 404.
"""

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from ..filtersets import visible_conversations
from ..models import Team
from .common import InboxError
from .routing import heartbeat, set_presence, transfer_conversation


def _require_change(request) -> None:
    if not request.user.has_perm("crm.change_conversation"):
        raise PermissionDenied


@login_required
@require_POST
def presence(request):
    """POST `status` (online, away, offline) to set it, or nothing for a heartbeat. Answers
    {"status": ..., "ttl": seconds}; an unknown status is a 400 naming the field."""
    _require_change(request)
    status = request.POST.get("status", "")
    try:
        row = set_presence(request.user, status) if status else heartbeat(request.user)
    except InboxError as exc:
        return JsonResponse(exc.message_dict, status=400)
    return JsonResponse({"status": row.status, "ttl": settings.INBOX_PRESENCE_TTL})


@login_required
@require_POST
def transfer(request, pk: int):
    """POST `agent` (a user id) or `team` (a team id), and `note`."""
    _require_change(request)
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    agent = team = None
    agent_id, team_id = request.POST.get("agent") or "", request.POST.get("team") or ""
    if agent_id:
        agent = get_user_model().objects.filter(pk=agent_id).first() if agent_id.isdigit() else None
        if agent is None:
            flash.error(request, _("Unknown agent."))
            return redirect("inbox:detail", pk=pk)
    if team_id:
        team = Team.objects.filter(pk=team_id).first() if team_id.isdigit() else None
        if team is None:
            flash.error(request, _("Unknown team."))
            return redirect("inbox:detail", pk=pk)
    try:
        done = transfer_conversation(
            conversation, by=request.user, note=request.POST.get("note", ""), agent=agent, team=team
        )
    except InboxError as exc:
        flash.error(request, " ".join(exc.messages))
        return redirect("inbox:detail", pk=pk)
    target = done.to_agent or done.to_team
    flash.success(request, _("Transferred to %(target)s.") % {"target": target})
    # The agent who handed it to another team may no longer see it.
    if visible_conversations(request.user).filter(pk=pk).exists():
        return redirect("inbox:detail", pk=pk)
    return redirect("inbox:list")
