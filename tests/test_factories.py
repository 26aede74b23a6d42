"""Every app's factories build rows that pass the models' own validation, so new tests can rely
on them (tests/<app>/factories.py)."""

import pytest

from tests.channels_wechat import factories as wechat
from tests.channels_weibo import factories as weibo
from tests.crm import factories as crm
from tests.dashboards import factories as dashboards
from tests.members import factories as members

FACTORIES = [
    crm.TagFactory,
    crm.CustomerFactory,
    crm.LeadFactory,
    crm.SegmentFactory,
    crm.ConversationFactory,
    crm.MessageFactory,
    wechat.OfficialAccountFactory,
    wechat.WeChatUserFactory,
    wechat.AutoReplyRuleFactory,
    wechat.CannedResponseFactory,
    weibo.WeiboAccountFactory,
    weibo.WeiboUserFactory,
    weibo.WeiboPostFactory,
    weibo.WeiboCommentFactory,
    weibo.KeywordRuleFactory,
    weibo.CampaignFactory,
    members.TierFactory,
    members.StoreFactory,
    members.MembershipFactory,
    members.CouponTemplateFactory,
    members.CouponFactory,
    members.OrderFactory,
    dashboards.KpiSnapshotFactory,
]


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_factory_builds_two_distinct_valid_rows(db, factory):
    first, second = factory(), factory()

    first.full_clean()
    second.full_clean()
    assert first.pk != second.pk
    assert factory._meta.model.objects.filter(pk__in=[first.pk, second.pk]).count() == 2
