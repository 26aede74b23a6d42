from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from crm.models import Conversation, Message, Tag

from .. import protocol
from ..actions import NEW_CODE_FIELDS, create_channel_code
from ..models import ChannelCode, OfficialAccount
from ..reports import FIGURES


class OfficialAccountSerializer(serializers.ModelSerializer):
    """Secrets are write-only (stored encrypted); reads say only whether they are set."""

    app_secret = serializers.CharField(write_only=True, max_length=128)
    token = serializers.CharField(write_only=True, max_length=32)
    encoding_aes_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=43
    )
    has_encoding_aes_key = serializers.SerializerMethodField()
    callback_path = serializers.SerializerMethodField()

    class Meta:
        model = OfficialAccount
        fields = [
            "id",
            "appid",
            "original_id",
            "name",
            "app_secret",
            "token",
            "encoding_aes_key",
            "has_encoding_aes_key",
            "mode",
            "welcome_message",
            "out_of_hours_reply",
            "service_start",
            "service_end",
            "active",
            "created_at",
            "callback_path",
        ]
        read_only_fields = ["created_at"]

    def get_has_encoding_aes_key(self, obj) -> bool:
        return bool(obj.encoding_aes_key)

    def get_callback_path(self, obj) -> str:
        return f"/hooks/wechat/{obj.appid}"

    def validate_encoding_aes_key(self, value: str) -> str:
        if value:
            try:
                protocol.aes_key(value)
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate_token(self, value: str) -> str:
        if not (3 <= len(value) <= 32 and value.isalnum()):
            raise serializers.ValidationError(_("The token is 3 to 32 letters and digits."))
        return value

    def validate(self, attrs):
        mode = attrs.get("mode", getattr(self.instance, "mode", None))
        key = attrs.get("encoding_aes_key", getattr(self.instance, "encoding_aes_key", ""))
        if mode in (OfficialAccount.Mode.SAFE, OfficialAccount.Mode.COMPATIBLE) and not key:
            raise serializers.ValidationError(
                {"encoding_aes_key": _("Safe and compatible modes need the EncodingAESKey.")}
            )
        return attrs


class ConversationSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "channel",
            "account",
            "external_user",
            "customer",
            "customer_name",
            "status",
            "assignee",
            "opened_at",
            "first_response_at",
            "last_inbound_at",
            "last_message_at",
            "resolved_at",
            "resolved_by",
            "survey_sent_at",
            "rating",
            "rated_at",
        ]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "customer",
            "account",
            "external_user",
            "direction",
            "msg_type",
            "content",
            "media_id",
            "platform_msg_id",
            "sent_at",
            "sender",
            "sender_kind",
            "delivery_status",
            "error_code",
            "error_message",
        ]
        read_only_fields = fields


class ReplySerializer(serializers.Serializer):
    text = serializers.CharField(max_length=2000, trim_whitespace=True)


class AssignSerializer(serializers.Serializer):
    agent = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True, is_staff=True), allow_null=True
    )


class ChannelCodeSerializer(serializers.ModelSerializer):
    """A channel QR code with its report figures (read-only); creating one calls
    channels_wechat.actions.create_channel_code, which creates it at WeChat."""

    tags = serializers.PrimaryKeyRelatedField(many=True, queryset=Tag.objects.all(), required=False)
    scans = serializers.IntegerField(read_only=True)
    new_followers = serializers.IntegerField(read_only=True)
    unsubscribed_7d = serializers.IntegerField(read_only=True)
    leads = serializers.IntegerField(read_only=True)
    members = serializers.IntegerField(read_only=True)
    orders = serializers.IntegerField(read_only=True)
    revenue_fen = serializers.IntegerField(read_only=True)

    class Meta:
        model = ChannelCode
        fields = [
            "id",
            *NEW_CODE_FIELDS,
            "ticket",
            "url",
            "expires_at",
            "created_at",
            *FIGURES,
        ]
        read_only_fields = ["ticket", "url", "expires_at", "created_at", *FIGURES]
        # The action checks the scene (length, uniqueness per account) and the lifetime.
        validators: list = []
        extra_kwargs: dict = {"scene": {"validators": []}}

    def create(self, validated_data):
        account = validated_data.pop("account")
        return create_channel_code(account, **validated_data)
