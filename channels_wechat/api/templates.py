"""API of template and subscription messages: the synced templates (read-only) and template
sends: POST sends one job through `send_template_message` (its refusals are field-level 400s),
`report` gives a job's figures (sent, failed by reason, held, delivery statuses)."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..models import MessageTemplate, TemplateSend
from ..templates import send_report, send_template_message


class MessageTemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "account",
            "kind",
            "template_id",
            "title",
            "content",
            "example",
            "variables",
            "long_term",
            "active",
            "synced_at",
        ]
        read_only_fields = fields


class TemplateSendSerializer(serializers.ModelSerializer):
    class Meta:
        model = TemplateSend
        fields = [
            "id",
            "account",
            "kind",
            "template",
            "openid",
            "customer",
            "batch",
            "notice",
            "data",
            "url",
            "status",
            "attempts",
            "error_code",
            "error_message",
            "msgid",
            "delivery",
            "delivered_at",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields


class NewSendSerializer(serializers.Serializer):
    template = serializers.PrimaryKeyRelatedField(queryset=MessageTemplate.objects.all())
    openids = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=10000
    )
    values = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=500))
    url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    batch = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class MessageTemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """The templates synced from WeChat (template messages and subscription templates)."""

    queryset = MessageTemplate.objects.all()
    serializer_class = MessageTemplateSerializer
    filterset_fields = ["account", "kind", "active"]
    ordering_fields = ["title", "synced_at"]
    ordering = ["title", "id"]


class TemplateSendViewSet(
    mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet
):
    """Every send per recipient. POST {template, openids, values: {variable: value}, url?, batch?} queues one job
    (202 with its batch id and figures); `report?batch=` gives a job's figures."""

    queryset = TemplateSend.objects.all()
    serializer_class = TemplateSendSerializer
    filterset_fields = ["account", "batch", "status", "delivery", "notice"]
    ordering_fields = ["created_at", "sent_at"]
    ordering = ["-created_at", "-id"]
    action_permissions = {"create": ["channels_wechat.add_templatesend"]}

    @extend_schema(request=NewSendSerializer, responses={202: dict})
    def create(self, request):
        given = NewSendSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        values = given.validated_data
        try:
            batch = send_template_message(
                values["template"],
                values["openids"],
                values["values"],
                url=values["url"],
                batch=values["batch"],
            )
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return Response({"batch": batch, **send_report(batch)}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[OpenApiParameter("batch", str, required=True)], responses={200: dict}
    )
    @action(detail=False, methods=["get"])
    def report(self, request):
        return Response(
            {"batch": request.GET.get("batch", ""), **send_report(request.GET.get("batch", ""))}
        )
