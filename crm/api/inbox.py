"""The cross-channel inbox API: search, conversation labels, private notes, notifications.

- `conversation-labels`: the label definitions (marketing manages them; agents read them).
- `conversations`: every inbox conversation the user may see (`visible_conversations`), with
  `?q=` full-text search (crm.search) and the filters label, assignee, status, channel, kind,
  account, opened_after/opened_before; `labels` (POST add/remove) and `notes` (GET, POST).
- `notifications`: the user's own, with `unread_count` and `read`.
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from ..actions.labels import label_conversation
from ..actions.notes import add_conversation_note, mark_notifications_read
from ..filtersets import visible_conversations
from ..models import (
    NOTE_MAX_LENGTH,
    Conversation,
    ConversationLabel,
    ConversationNote,
    Notification,
)
from ..search import ConversationSearchFilterSet, matching_snippets


class ConversationLabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConversationLabel
        fields = ["id", "name", "color", "description", "created_at"]
        read_only_fields = ["created_at"]


class ConversationHitSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    labels = serializers.SerializerMethodField()
    snippet = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "channel",
            "account",
            "kind",
            "status",
            "customer",
            "customer_name",
            "assignee",
            "opened_at",
            "last_message_at",
            "labels",
            "snippet",
        ]

    def get_labels(self, obj) -> list[str]:
        return [label.name for label in obj.labels.all()]

    def get_snippet(self, obj) -> str | None:
        return self.context.get("snippets", {}).get(obj.pk)


class LabelChangeSerializer(serializers.Serializer):
    add = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    remove = serializers.ListField(child=serializers.CharField(max_length=32), required=False)


class ConversationNoteSerializer(serializers.ModelSerializer):
    author: serializers.StringRelatedField[AbstractBaseUser] = serializers.StringRelatedField()
    mentions: serializers.StringRelatedField[AbstractBaseUser] = serializers.StringRelatedField(
        many=True, read_only=True
    )
    private = serializers.BooleanField(default=True, read_only=True)
    body = serializers.CharField(max_length=NOTE_MAX_LENGTH, allow_blank=True)

    class Meta:
        model = ConversationNote
        fields = ["id", "conversation", "body", "author", "mentions", "private", "created_at"]
        read_only_fields = ["conversation", "created_at"]


class NotificationSerializer(serializers.ModelSerializer):
    actor: serializers.StringRelatedField[AbstractBaseUser] = serializers.StringRelatedField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "actor", "conversation", "note", "created_at", "read_at"]


class ReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), required=False)


class SearchFilterBackend(DjangoFilterBackend):
    """The filters, keeping the filterset on the view (`view.filterset`) so that the pagination
    can page a search from the rows before it (crm.search.search_page)."""

    def get_filterset(self, request, queryset, view):
        view.filterset = super().get_filterset(request, queryset, view)
        return view.filterset


class SearchPagination(LimitOffsetPagination):
    """`?limit=&offset=` without a total: counting every match of a common word over a million
    messages would cost more than the page itself. `next` is given while there is more. A
    search (`q`) is paged by `search_page`: the same rows, found faster for a common word."""

    default_limit = 50
    max_limit = 200

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        assert self.limit is not None
        stop = self.offset + self.limit + 1
        filterset = getattr(view, "filterset", None)
        if isinstance(filterset, ConversationSearchFilterSet):
            ordering = queryset.query.order_by or Conversation._meta.ordering
            rows = filterset.page(ordering, self.offset, stop)
        else:
            rows = list(queryset[self.offset : stop])
        self.has_more = len(rows) > self.limit
        self.count = self.offset + len(rows)
        return rows[: self.limit]

    def get_next_link(self):
        return super().get_next_link() if self.has_more else None

    def get_paginated_response(self, data):
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "next": {"type": "string", "nullable": True},
                "previous": {"type": "string", "nullable": True},
                "results": schema,
            },
        }


class ConversationLabelViewSet(viewsets.ModelViewSet):
    """Conversation labels (售后, 物流, 投诉升级...), separate from customer tags."""

    queryset = ConversationLabel.objects.all()
    serializer_class = ConversationLabelSerializer
    filterset_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]


class InboxConversationViewSet(viewsets.ReadOnlyModelViewSet):
    """Inbox conversations of every channel: search (`q`) and filters; labels and notes."""

    queryset = Conversation.objects.all()
    serializer_class = ConversationHitSerializer
    filterset_class = ConversationSearchFilterSet
    filter_backends = [SearchFilterBackend, OrderingFilter]
    pagination_class = SearchPagination
    ordering_fields = ["opened_at", "last_message_at", "id"]
    ordering = ["-last_message_at", "-id"]
    action_permissions = {
        "labels": ["crm.view_conversation", "crm.change_conversation"],
    }

    def get_queryset(self):
        return visible_conversations(self.request.user).prefetch_related("labels")

    def get_permissions(self):
        if self.action == "notes":
            wanted = (
                ["crm.view_conversation", "crm.view_conversationnote"]
                if self.request.method in ("GET", "HEAD", "OPTIONS")
                else ["crm.view_conversation", "crm.add_conversationnote"]
            )
            self.action_permissions = {**self.action_permissions, "notes": wanted}
        return super().get_permissions()

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        assert page is not None
        snippets = matching_snippets([c.pk for c in page], request.query_params.get("q", ""))
        data = ConversationHitSerializer(
            page, many=True, context={**self.get_serializer_context(), "snippets": snippets}
        ).data
        return self.get_paginated_response(data)

    @extend_schema(request=LabelChangeSerializer, responses=ConversationLabelSerializer(many=True))
    @action(detail=True, methods=["post"])
    def labels(self, request, pk=None):
        """Add and remove labels by name; an unknown name is a 400 naming it, nothing changed."""
        conversation = self.get_object()
        body = LabelChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        labels = label_conversation(
            conversation,
            add=body.validated_data.get("add", []),
            remove=body.validated_data.get("remove", []),
            by=request.user,
        )
        return Response(ConversationLabelSerializer(labels, many=True).data)

    @extend_schema(methods=["GET"], request=None, responses=ConversationNoteSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=ConversationNoteSerializer,
        responses={201: ConversationNoteSerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        """The conversation's private notes; POST writes one (`@username` notifies)."""
        conversation = self.get_object()
        if request.method == "GET":
            notes = conversation.notes.select_related("author").prefetch_related("mentions")
            return Response(ConversationNoteSerializer(notes, many=True).data)
        body = ConversationNoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = add_conversation_note(conversation, body.validated_data["body"], author=request.user)
        return Response(ConversationNoteSerializer(note).data, status=status.HTTP_201_CREATED)


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The user's own notifications, newest first (`?unread=true` for the unread ones)."""

    queryset = Notification.objects.all()
    serializer_class = NotificationSerializer
    action_permissions = {
        "unread_count": ["crm.view_notification"],
        "read": ["crm.view_notification", "crm.change_notification"],
    }

    def get_queryset(self):
        rows = Notification.objects.filter(recipient=self.request.user).select_related("actor")
        if self.request.query_params.get("unread") in ("1", "true"):
            rows = rows.filter(read_at__isnull=True)
        return rows.order_by("-created_at", "-id")

    @extend_schema(
        responses={200: {"type": "object", "properties": {"unread": {"type": "integer"}}}}
    )
    @action(detail=False, methods=["get"])
    def unread_count(self, request):
        unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True)
        return Response({"unread": unread.count()})

    @extend_schema(
        request=ReadSerializer,
        responses={200: {"type": "object", "properties": {"marked": {"type": "integer"}}}},
    )
    @action(detail=False, methods=["post"])
    def read(self, request):
        """Mark your notifications read: those in `ids`, or all."""
        body = ReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        marked = mark_notifications_read(request.user, body.validated_data.get("ids"))
        return Response({"marked": marked})
