"""API of mass sends: /api/v1/wechat/mass-sends/ with `approve`, `start`, `cancel`, `preview`,
`report`; and /api/v1/wechat/tags/ with `push` (crm members to WeChat) and `pull`."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.inbox import SendError
from crm.models import Tag

from ..mass.approval import (
    APPROVE_PERMISSION,
    DRAFT_FIELDS,
    approve_send,
    cancel_send,
    preview_send,
    save_draft,
    start_send,
)
from ..mass.reports import send_report
from ..models import MassSend, OfficialAccount, WeChatTag
from ..tags_sync import pull_tags, push_tag


class MassSendSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = MassSend
        fields = [
            "id",
            *DRAFT_FIELDS,
            "status",
            "created_by",
            "approved_by",
            "approved_at",
            "use_sendall",
            "targeted",
            "skipped_consent",
            "deferred",
            "sent",
            "failed",
            "filtered",
            "progress",
            "last_error",
            "created_at",
        ]
        read_only_fields = [f for f in fields if f not in DRAFT_FIELDS]

    def create(self, validated_data):
        return save_draft(MassSend(**validated_data), self.context["request"].user)

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return save_draft(instance)


class PreviewSerializer(serializers.Serializer):
    openid = serializers.CharField(max_length=64)


def _platform_refusal(exc: SendError) -> Response:
    return Response(
        {"detail": f"WeChat refused: {exc.code} {exc.message}", "code": exc.code},
        status=status.HTTP_502_BAD_GATEWAY if exc.transient else status.HTTP_400_BAD_REQUEST,
    )


class MassSendViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Mass sends: marketing drafts, a manager approves, marketing starts; an unapproved send
    never goes out. Refusals are field-level 400s."""

    queryset = MassSend.objects.all()
    serializer_class = MassSendSerializer
    filterset_fields = ["status", "account", "kind", "target"]
    ordering_fields = ["created_at", "scheduled_at", "title"]
    ordering = ["-created_at", "-id"]
    action_permissions = {
        "approve": [APPROVE_PERMISSION],
        "start": ["channels_wechat.change_masssend"],
        "cancel": ["channels_wechat.change_masssend"],
        "preview": ["channels_wechat.change_masssend"],
        "report": ["channels_wechat.view_masssend"],
    }

    @extend_schema(request=None, responses=MassSendSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        send = approve_send(self.get_object(), request.user)
        return Response(MassSendSerializer(send).data)

    @extend_schema(request=None, responses=MassSendSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return Response(MassSendSerializer(start_send(self.get_object())).data)

    @extend_schema(request=None, responses=MassSendSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return Response(MassSendSerializer(cancel_send(self.get_object())).data)

    @extend_schema(request=PreviewSerializer, responses=None)
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        given = PreviewSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            preview_send(self.get_object(), given.validated_data["openid"])
        except SendError as exc:
            return _platform_refusal(exc)
        return Response({"previewed": given.validated_data["openid"]})

    @extend_schema(request=None, responses=None)
    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        return Response(send_report(self.get_object()))


class WeChatTagSerializer(serializers.ModelSerializer):
    tag_name = serializers.CharField(source="tag.name", read_only=True)

    class Meta:
        model = WeChatTag
        fields = [
            "id",
            "account",
            "tag",
            "tag_name",
            "wechat_id",
            "name",
            "member_count",
            "synced_at",
        ]
        read_only_fields = ["wechat_id", "name", "member_count", "synced_at"]


class TagPushSerializer(serializers.Serializer):
    account = serializers.PrimaryKeyRelatedField(queryset=OfficialAccount.objects.all())
    tag = serializers.PrimaryKeyRelatedField(queryset=Tag.objects.all())


class PullSerializer(serializers.Serializer):
    account = serializers.PrimaryKeyRelatedField(queryset=OfficialAccount.objects.all())


class WeChatTagViewSet(viewsets.ReadOnlyModelViewSet):
    """WeChat tags mirrored from crm tags. `push`: make the WeChat tag's members the CRM's;
    `pull`: bring every WeChat tag and its members into the CRM."""

    queryset = WeChatTag.objects.select_related("tag")
    serializer_class = WeChatTagSerializer
    filterset_fields = ["account", "tag"]
    ordering_fields = ["name", "synced_at"]
    ordering = ["name"]
    action_permissions = {
        "push": ["channels_wechat.add_wechattag", "channels_wechat.change_wechattag"],
        "pull": ["channels_wechat.add_wechattag", "crm.add_tag"],
    }

    @extend_schema(request=TagPushSerializer, responses=None)
    @action(detail=False, methods=["post"])
    def push(self, request):
        given = TagPushSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            result = push_tag(given.validated_data["account"], given.validated_data["tag"])
        except SendError as exc:
            return _platform_refusal(exc)
        return Response(result)

    @extend_schema(request=PullSerializer, responses=None)
    @action(detail=False, methods=["post"])
    def pull(self, request):
        given = PullSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            links = pull_tags(given.validated_data["account"])
        except SendError as exc:
            return _platform_refusal(exc)
        return Response({"links": links})
