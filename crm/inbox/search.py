"""The inbox search page (/inbox/search/): conversations by words in their messages, notes or
customer name, with the filters label, agent, status, channel, account and date (crm.search).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render

from ..filtersets import visible_conversations
from ..models import ConversationLabel, ConversationStatus
from ..search import ConversationSearchFilterSet, matching_snippets

PAGE = 50


@login_required
@permission_required("crm.view_conversation", raise_exception=True)
def search_page(request):
    filterset = ConversationSearchFilterSet(
        request.GET,
        queryset=visible_conversations(request.user).prefetch_related("labels"),
        request=request,
    )
    try:
        page_number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page_number = 1
    rows, has_more = [], False
    searched = any(v for k, v in request.GET.items() if k != "page")
    if searched and filterset.is_valid():
        start = (page_number - 1) * PAGE
        found = filterset.page(("-last_message_at", "-id"), start, start + PAGE + 1)
        has_more = len(found) > PAGE
        rows = found[:PAGE]
        snippets = matching_snippets([c.pk for c in rows], filterset.form.cleaned_data.get("q"))
        for conversation in rows:
            conversation.snippet = snippets.get(conversation.pk, "")
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filterset": filterset,
        "rows": rows,
        "searched": searched,
        "page_number": page_number,
        "has_more": has_more,
        "query": query.urlencode(),
        "labels": ConversationLabel.objects.order_by("name"),
        "status_choices": ConversationStatus.choices,
        "agents": get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .order_by("username"),
    }
    return render(request, "inbox/search.html", context)
