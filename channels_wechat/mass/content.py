"""What a mass send says: the API message body, with its tracked link."""

from typing import Any

from django.conf import settings
from django.urls import reverse

from crm.links import tracked_url

from ..mass_client import MassClient
from ..models.mass import MassSend


def link_source(send: MassSend) -> str:
    return f"wechat_mass:{send.pk}"


def tracked_link(send: MassSend) -> str:
    """The send's link (its own URL or the coupon's claim page) through /r/<token>, or ''."""
    url = send.link_url
    if send.kind == MassSend.Kind.COUPON and send.coupon_template_id:
        url = settings.PUBLIC_BASE_URL.rstrip("/") + reverse(
            "members:claim", args=[send.coupon_template_id]
        )
    if not url:
        return ""
    return tracked_url(url, link_source(send), base=settings.PUBLIC_BASE_URL)


def message_body(send: MassSend, client: MassClient) -> dict[str, Any]:
    """The `msgtype` and its payload; a news send gets its draft (`draft/add`) on first use."""
    link = tracked_link(send)
    if send.kind in (MassSend.Kind.TEXT, MassSend.Kind.COUPON):
        text = send.text.strip() or (send.coupon_template.name if send.coupon_template else "")
        content = f"{text}\n{link}" if link else text
        return {"msgtype": "text", "text": {"content": content}}
    if send.kind == MassSend.Kind.IMAGE:
        return {"msgtype": "image", "image": {"media_id": send.media_id}}
    if not send.media_id:
        article = {
            "title": send.article.get("title", ""),
            "author": send.article.get("author", ""),
            "digest": send.article.get("digest", ""),
            "content": send.article.get("content", ""),
            "content_source_url": link,
            "thumb_media_id": send.article.get("thumb_media_id", ""),
            "need_open_comment": 0,
        }
        send.media_id = client.add_draft([article])
        MassSend.objects.filter(pk=send.pk).update(media_id=send.media_id)
    return {"msgtype": "mpnews", "mpnews": {"media_id": send.media_id}}
