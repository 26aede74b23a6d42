"""The live inbox's HTTP side: the catch-up endpoint a page calls after (re)connecting its socket,
or every few seconds while the socket cannot connect, and the "I read this" mark.

- GET `/inbox/live/events/?after=<id>`: `{"events": [...], "last": <id>, "unread": {...}}`, the
  events after `after` the user may see (oldest first, at most crm.live.CATCH_UP_LIMIT; `last`
  is where to ask from next), and the unread counts per tab. Without `after`: no events, `last`
  the newest event id (a freshly loaded page shows everything up to it). When events after
  `after` were pruned (crm.live.prune_events): `{"events": [], "last": <id>, "reload": true}`,
  and the page reloads.
- POST `/inbox/<pk>/read/`: the user has the conversation open; answers the new unread counts.

Both need the inbox's view permission, as the pages do (crm.inbox.pages).
"""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from .. import live
from ..filtersets import visible_conversations


@login_required
@permission_required("crm.view_conversation", raise_exception=True)
@require_GET
def events(request):
    after = request.GET.get("after", "")
    if after == "":
        return JsonResponse(
            {"events": [], "last": live.last_event_id(), "unread": live.unread_counts(request.user)}
        )
    if not after.isdigit():
        return HttpResponseBadRequest("after: an event id (a whole number)")
    if live.missed_events(int(after)):  # away longer than the events are kept: reload
        return JsonResponse({"events": [], "last": live.last_event_id(), "reload": True})
    found = live.events_after(request.user, int(after))
    last = found[-1]["id"] if found else int(after)
    return JsonResponse({"events": found, "last": last, "unread": live.unread_counts(request.user)})


@login_required
@permission_required("crm.view_conversation", raise_exception=True)
@require_POST
def mark_read(request, pk: int):
    conversation = get_object_or_404(visible_conversations(request.user), pk=pk)
    live.mark_conversation_read(conversation, request.user)
    return JsonResponse({"unread": live.unread_counts(request.user)})
