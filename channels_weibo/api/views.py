from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..analysis import brand_mentions
from ..campaigns import campaign_stats
from ..cascades import build_cascade
from ..filtersets import AccountFilterSet, KeywordRuleFilterSet, PostFilterSet
from ..models import Campaign, KeywordRule, WeiboAccount, WeiboPost
from .serializers import (
    AccountSerializer,
    CampaignSerializer,
    KeywordRuleSerializer,
    PostSerializer,
)


class AccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The brand's Weibo accounts (connected through OAuth in the admin)."""

    queryset = WeiboAccount.objects.all()
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet
    ordering_fields = ["screen_name", "uid", "last_polled_at"]
    ordering = ["screen_name"]
    lookup_field = "uid"


class PostViewSet(viewsets.ReadOnlyModelViewSet):
    """Posts: the brand's own and others' that concern it. `cascade` gives the repost tree."""

    queryset = WeiboPost.objects.select_related("account", "author", "root", "parent")
    serializer_class = PostSerializer
    filterset_class = PostFilterSet
    ordering_fields = [
        "created_at",
        "reposts_count",
        "comments_count",
        "attitudes_count",
        "sentiment",
    ]
    ordering = ["-created_at", "-id"]
    lookup_field = "idstr"
    action_permissions = {"cascade": ["channels_weibo.view_weibopost"]}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True)
    def cascade(self, request, idstr=None):
        return Response(build_cascade(self.get_object()))


class MentionViewSet(PostViewSet):
    """The listening list: posts by others that mention the brand or match a keyword rule."""

    queryset = brand_mentions().select_related("account", "author", "root", "parent")


class KeywordRuleViewSet(viewsets.ModelViewSet):
    queryset = KeywordRule.objects.prefetch_related("accounts")
    serializer_class = KeywordRuleSerializer
    filterset_class = KeywordRuleFilterSet
    ordering_fields = ["name", "created_at", "updated_at", "id"]
    ordering = ["name", "id"]


class CampaignViewSet(viewsets.ReadOnlyModelViewSet):
    """KOL campaigns; `stats` gives reach, reposts, comments, likes and leads per KOL."""

    queryset = Campaign.objects.select_related("account").prefetch_related("posts", "kols")
    serializer_class = CampaignSerializer
    filterset_fields = ["account__uid"]
    ordering_fields = ["start", "end", "name"]
    ordering = ["-start", "name"]
    action_permissions = {"stats": ["channels_weibo.view_campaign"]}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True)
    def stats(self, request, pk=None):
        return Response(campaign_stats(self.get_object()))
