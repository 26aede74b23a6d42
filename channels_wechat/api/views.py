from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.filtersets import visible_conversations
from crm.inbox import (
    SendError,
    assign_conversation,
    reply,
    resolve_conversation,
)
from crm.models import Conversation, Message, message_team_scope
from crm.send_errors import send_error_text

from ..filtersets import MessageFilterSet, WeChatConversationFilterSet
from ..models import ChannelCode, OfficialAccount
from ..reports import with_figures
from .serializers import (
    AssignSerializer,
    ChannelCodeSerializer,
    ConversationSerializer,
    MessageSerializer,
    OfficialAccountSerializer,
    ReplySerializer,
)


class OfficialAccountViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """The brand's official accounts; secrets are write-only and encrypted at rest."""

    queryset = OfficialAccount.objects.all()
    serializer_class = OfficialAccountSerializer
    filterset_fields = ["mode", "active"]
    ordering_fields = ["name", "appid", "created_at"]
    ordering = ["name"]


class ConversationViewSet(viewsets.ReadOnlyModelViewSet):
    """WeChat customer-service conversations, with the agent's `reply`, `assign`, `resolve`."""

    queryset = Conversation.objects.all()
    serializer_class = ConversationSerializer
    filterset_class = WeChatConversationFilterSet
    ordering_fields = ["opened_at", "last_inbound_at", "last_message_at", "id"]
    ordering = ["-last_message_at", "-id"]
    action_permissions = {
        "reply": ["crm.add_message", "crm.view_conversation"],
        "assign": ["crm.change_conversation"],
        "resolve": ["crm.change_conversation"],
    }

    def get_queryset(self):
        return visible_conversations(self.request.user).filter(channel="wechat")

    @extend_schema(request=ReplySerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        """Send the agent's text; WeChat's refusals (45015, 45047) answer 409 with the code."""
        conversation = self.get_object()
        body = ReplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            message = reply(conversation, body.validated_data["text"], agent=request.user)
        except SendError as exc:
            failed = Message.objects.filter(conversation=conversation, direction="out").last()
            return Response(
                {
                    "detail": send_error_text(exc.code, exc.message),
                    "error_code": exc.code,
                    "message": MessageSerializer(failed).data if failed else None,
                },
                status=status.HTTP_503_SERVICE_UNAVAILABLE
                if exc.transient
                else status.HTTP_409_CONFLICT,
            )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AssignSerializer, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Give the conversation to an agent (`agent`: user id, or null for nobody)."""
        conversation = self.get_object()
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assign_conversation(conversation, body.validated_data["agent"], by=request.user)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(request=None, responses=ConversationSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Resolve the conversation and send the satisfaction survey."""
        conversation = self.get_object()
        conversation = resolve_conversation(conversation, by=request.user)
        return Response(ConversationSerializer(conversation).data)


class MessageViewSet(viewsets.ReadOnlyModelViewSet):
    """WeChat messages in and out (events included as msg_type `event`)."""

    queryset = Message.objects.filter(channel="wechat")
    serializer_class = MessageSerializer
    filterset_class = MessageFilterSet
    ordering_fields = ["sent_at", "id"]
    ordering = ["sent_at", "id"]

    def get_queryset(self):
        # An agent reads only their teams' conversations (crm.models.teams).
        return message_team_scope(super().get_queryset(), self.request.user)


class ChannelCodeViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Channel QR codes with their report figures (one query for the page); POST creates one at
    WeChat (`create_channel_code`): its refusal, or WeChat's, is a field-level 400."""

    queryset = ChannelCode.objects.all()
    serializer_class = ChannelCodeSerializer
    filterset_fields = ["account", "purpose", "kind", "active"]
    ordering_fields = ["created_at", "name", "scans", "new_followers", "orders", "revenue_fen"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return with_figures(ChannelCode.objects.prefetch_related("tags"))

    def perform_create(self, serializer):
        serializer.instance = serializer.save()
        # The figures of a new code are all zero; annotate them for the answer.
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)
