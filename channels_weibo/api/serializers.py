from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..models import Campaign, KeywordRule, WeiboAccount, WeiboPost, WeiboUser


class AccountSerializer(serializers.ModelSerializer):
    """A brand account; tokens and secrets are never shown."""

    token_expires_soon = serializers.BooleanField(read_only=True)

    class Meta:
        model = WeiboAccount
        fields = [
            "id",
            "uid",
            "screen_name",
            "token_status",
            "token_error",
            "token_expires_at",
            "token_expires_soon",
            "rate_limited_until",
            "last_polled_at",
            "last_poll_error",
            "active",
        ]
        read_only_fields = [f for f in fields if f not in ("screen_name", "active")]


class WeiboUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = WeiboUser
        fields = [
            "uid",
            "screen_name",
            "followers_count",
            "verified",
            "verified_type",
            "kol_category",
            "customer",
        ]


class PostSerializer(serializers.ModelSerializer):
    """A status; ids are strings (`idstr`, `mid`): some exceed what a JSON number holds."""

    account: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="uid", read_only=True
    )
    author = WeiboUserSerializer(read_only=True)
    # Declared fields are taken off the class by DRF's metaclass: no clash with Field.root.
    root = serializers.SlugRelatedField(slug_field="idstr", read_only=True, allow_null=True)  # type: ignore[assignment,var-annotated]
    parent = serializers.SlugRelatedField(slug_field="idstr", read_only=True, allow_null=True)  # type: ignore[assignment,var-annotated]

    class Meta:
        model = WeiboPost
        fields = [
            *WeiboPost.HEAD_FIELDS,
            "root",
            "parent",
            "parent_name",
            "reposts_count",
            "comments_count",
            "attitudes_count",
            "mentions_brand",
            "keywords",
            "sentiment",
            "sentiment_label",
        ]


class KeywordRuleSerializer(serializers.ModelSerializer):
    accounts = serializers.SlugRelatedField(
        slug_field="uid", queryset=WeiboAccount.objects.all(), many=True, required=False
    )
    word_list = serializers.ListField(child=serializers.CharField(), read_only=True)
    exclusion_list = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = KeywordRule
        fields = [
            "id",
            "name",
            "words",
            "exclusions",
            "word_list",
            "exclusion_list",
            "accounts",
            "action_tag",
            "tag_name",
            "action_lead",
            "action_alert",
            "action_handoff",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_words(self, value):
        if not KeywordRule.split(value):
            raise serializers.ValidationError(_("Give at least one word."))
        return value

    def validate(self, attrs):
        words = set(KeywordRule.split(attrs.get("words", getattr(self.instance, "words", ""))))
        excluded = set(
            KeywordRule.split(attrs.get("exclusions", getattr(self.instance, "exclusions", "")))
        )
        both = sorted(words & excluded)
        if both:
            raise serializers.ValidationError(
                {
                    "exclusions": _("A word cannot also be an exclusion: %(w)s.")
                    % {"w": "、".join(both)}
                }
            )
        return attrs


class CampaignSerializer(serializers.ModelSerializer):
    account: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="uid", read_only=True
    )
    posts: serializers.Field = serializers.SlugRelatedField(
        slug_field="idstr", many=True, read_only=True
    )
    kols = WeiboUserSerializer(many=True, read_only=True)

    class Meta:
        model = Campaign
        fields = ["id", "name", "account", "start", "end", "posts", "kols", "notes"]
