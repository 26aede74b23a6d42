"""Staff pages of the Weibo app: listening, a post's cascade, campaigns, OAuth connect. Views are thin: they read through filtersets and call actions."""

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.contrib.contenttypes.models import ContentType
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from crm.inbox import InboxError
from crm.models import Conversation

from .actions import connect_account, reply_in_public
from .analysis import brand_mentions
from .campaigns import campaign_stats
from .cascades import build_cascade
from .client import WeiboClient, WeiboError
from .filtersets import PostFilterSet
from .handoff import send_handoff_link
from .models import Campaign, SentimentLabel, WeiboComment, WeiboPost

ECHARTS = "vendor/echarts/echarts.min.js"


@staff_member_required
@permission_required("channels_weibo.view_weibopost", raise_exception=True)
def mentions(request):
    """The listening page: mentions and keyword matches, filtered by sentiment, keyword, account."""
    queryset = brand_mentions().select_related("author", "account").order_by("-created_at", "-id")
    filterset = PostFilterSet(request.GET or None, queryset=queryset)
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    counts = {
        label: filterset.qs.filter(sentiment_label=label).count() for label in SentimentLabel.values
    }
    # The complaint case a post opened, for those on this page: one query.
    cases = dict(
        Conversation.objects.filter(
            kind=Conversation.Kind.COMPLAINT,
            subject_type=ContentType.objects.get_for_model(WeiboPost),
            subject_id__in=[str(post.pk) for post in page],
        ).values_list("subject_id", "pk")
    )
    for post in page:
        post.case_id = cases.get(str(post.pk))
    return render(
        request,
        "channels_weibo/mentions.html",
        {
            "filterset": filterset,
            "page": page,
            "can_see_cases": request.user.has_perm("crm.view_conversation"),
            "counts": counts,
            "title": _("Weibo listening"),
            "query": request.GET.copy().urlencode() if "page" not in request.GET else "",
        },
    )


@staff_member_required
@permission_required("channels_weibo.view_weibopost", raise_exception=True)
def post_detail(request, idstr: str):
    """A post with its repost cascade (传播路径) and comments."""
    post = get_object_or_404(
        WeiboPost.objects.select_related("author", "root", "parent"), idstr=idstr
    )
    cascade = build_cascade(post)
    comments = WeiboComment.objects.filter(post=post).select_related("author")[:200]
    return render(
        request,
        "channels_weibo/post_detail.html",
        {
            "post": post,
            "cascade": cascade,
            "comments": comments,
            "echarts": ECHARTS if finders.find(ECHARTS) else "",
            "title": _("Weibo post %(id)s") % {"id": post.idstr},
        },
    )


@staff_member_required
@permission_required("channels_weibo.view_campaign", raise_exception=True)
def campaign_detail(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    return render(
        request,
        "channels_weibo/campaign.html",
        {"campaign": campaign, "stats": campaign_stats(campaign), "title": campaign.name},
    )


@staff_member_required
@permission_required("crm.add_message", raise_exception=True)
def case_reply(request, pk: int):
    """A complaint case from a public post: answer it in public, under the post or comment."""
    case = get_object_or_404(Conversation, pk=pk, channel="weibo", kind=Conversation.Kind.COMPLAINT)
    error = ""
    if request.method == "POST":
        try:
            reply_in_public(case, request.POST.get("text", ""), agent=request.user)
        except InboxError as exc:
            error = " ".join(m for msgs in exc.message_dict.values() for m in msgs)
        except WeiboError as exc:
            error = _("Weibo refused: %(code)s %(message)s") % {
                "code": exc.code,
                "message": exc.message,
            }
        else:
            messages.success(request, _("Answered in public on Weibo."))
            return redirect("inbox:detail", case.pk)
    return render(
        request,
        "channels_weibo/case_reply.html",
        {
            "case": case,
            "subject": case.subject,
            "thread": case.messages.order_by("sent_at", "id"),
            "error": error,
            "text": request.POST.get("text", ""),
            "title": _("Answer in public"),
        },
        status=400 if error else 200,
    )


@staff_member_required
@permission_required("crm.add_message", raise_exception=True)
def case_handoff(request, pk: int):
    """POST: send the complaint case's Weibo user the WeChat handoff link (private message in
    the 48-hour window, else a public comment reply), then back to the case."""
    case = get_object_or_404(Conversation, pk=pk, channel="weibo", kind=Conversation.Kind.COMPLAINT)
    if request.method != "POST":
        return redirect("weibo-case-reply", case.pk)
    try:
        how = send_handoff_link(conversation=case, agent=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("WeChat handoff link sent by private message.")
            if how == "message"
            else _("WeChat handoff link sent as a public comment reply."),
        )
    return redirect("weibo-case-reply", case.pk)


def _redirect_uri(request) -> str:
    return request.build_absolute_uri(reverse("weibo-oauth-callback"))


@staff_member_required
@permission_required("channels_weibo.change_weiboaccount", raise_exception=True)
def connect(request):
    """Start the OAuth authorization-code flow (the operator logs in on Weibo and approves)."""
    if not settings.WEIBO_APP_KEY or not settings.WEIBO_APP_SECRET:
        messages.error(request, _("Set WEIBO_APP_KEY and WEIBO_APP_SECRET to connect accounts."))
        return redirect("admin:channels_weibo_weiboaccount_changelist")
    state = secrets.token_urlsafe(16)
    request.session["weibo_oauth_state"] = state
    return redirect(
        WeiboClient().authorize_url(settings.WEIBO_APP_KEY, _redirect_uri(request), state)
    )


@staff_member_required
@permission_required("channels_weibo.change_weiboaccount", raise_exception=True)
def oauth_callback(request):
    expected = request.session.pop("weibo_oauth_state", None)
    if not expected or request.GET.get("state") != expected:
        messages.error(request, _("The authorisation answer did not match a request from here."))
        return redirect("admin:channels_weibo_weiboaccount_changelist")
    if not request.GET.get("code"):
        messages.error(
            request,
            _("Weibo did not authorise the account: %(e)s") % {"e": request.GET.get("error", "")},
        )
        return redirect("admin:channels_weibo_weiboaccount_changelist")
    try:
        account = connect_account(
            request.GET["code"],
            app_key=settings.WEIBO_APP_KEY,
            app_secret=settings.WEIBO_APP_SECRET,
            redirect_uri=_redirect_uri(request),
        )
    except WeiboError as exc:
        messages.error(
            request,
            _("Weibo refused the authorisation: %(e)s") % {"e": f"{exc.code} {exc.message}"},
        )
        return redirect("admin:channels_weibo_weiboaccount_changelist")
    messages.success(request, _("Connected %(name)s.") % {"name": account})
    return redirect("admin:channels_weibo_weiboaccount_change", account.pk)
