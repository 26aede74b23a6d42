"""The demo module loads through the real ingestion, polls the sandbox, and is safe to rerun."""

import io
import time

from channels_weibo.campaigns import campaign_stats
from channels_weibo.models import (
    Campaign,
    FollowerSnapshot,
    KeywordAlert,
    WeiboAccount,
    WeiboComment,
    WeiboPost,
)
from crm.models import Conversation, Lead
from devtools.demo import weibo as demo


def test_demo_load_builds_a_living_weibo_side(weibo_sandbox, db):
    weibo_sandbox.tokens[demo.TOKEN] = {"uid": "5988800001", "expires_at": time.time() + 86400}
    out = io.StringIO()
    demo.load(out)
    assert "weibo: polled the sandbox: {'status': 'ok'" in out.getvalue()
    account = WeiboAccount.objects.get()
    assert WeiboPost.objects.filter(is_brand_post=True).count() >= 14 + 3
    assert WeiboPost.objects.filter(root__isnull=False, parent__isnull=False).exists()
    assert WeiboComment.objects.count() > 50
    labels = set(
        WeiboPost.objects.exclude(sentiment_label="").values_list("sentiment_label", flat=True)
    )
    assert labels == {"positive", "neutral", "negative"}
    assert Lead.objects.filter(source_channel="weibo").exists()
    assert KeywordAlert.objects.exists()
    assert Conversation.objects.filter(channel="weibo", kind="complaint").exists()
    snapshots = list(
        FollowerSnapshot.objects.filter(account=account)
        .order_by("day")
        .values_list("followers_count", flat=True)
    )
    assert len(snapshots) == 43 and snapshots == sorted(snapshots)
    campaign = Campaign.objects.get()
    assert campaign.kols.count() == 4
    # Fans reposting a KOL's repost ask where to buy: the keyword rule makes those leads, and the
    # campaign attributes them to the KOL (it showed 0 when the sandbox's fans never asked).
    stats = campaign_stats(campaign)
    assert stats["total"]["leads"] > 0
    counts = (WeiboPost.objects.count(), Lead.objects.count())
    demo.load(io.StringIO())
    assert (WeiboPost.objects.count(), Lead.objects.count()) == counts
    labels = [label for label, _path in demo.urls()]
    assert labels[0] == "微博舆情 Weibo listening:" and len(labels) == 5
