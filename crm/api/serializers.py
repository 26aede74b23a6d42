from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..actions import (
    CUSTOMER_EDITABLE_FIELDS,
    TIMELINE_FIELDS,
    create_customer,
    create_lead,
    update_customer,
    update_lead,
)
from ..filtersets import CustomerFilterSet
from ..models import (
    Channel,
    Customer,
    Interaction,
    Lead,
    MergeRecord,
    Note,
    Segment,
    Tag,
    normalize_phone,
)
from ..security import mask_phone, may_see_phone


class TagNameField(serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": _("Unknown tag: {value}."),
        "invalid": _("A tag is given by its name."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="name", queryset=Tag.objects.all(), **kwargs)


class CustomerSerializer(serializers.ModelSerializer):
    tags = TagNameField(many=True, required=False)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True), allow_null=True, required=False
    )

    class Meta:
        model = Customer
        read_only_fields = [
            "phone_verified",
            "created_at",
            "updated_at",
            "merged_into",
            "erased_at",
        ]
        # What a person may write is what `update_customer` accepts (CUSTOMER_EDITABLE_FIELDS).
        fields = ["id", *CUSTOMER_EDITABLE_FIELDS, *read_only_fields]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        # PIPL: the full number only for roles that need it (crm.view_customer_phone).
        if not may_see_phone(getattr(request, "user", None)):
            data["phone"] = mask_phone(data["phone"])
        return data

    def validate_phone(self, value):
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages)

    def validate_email(self, value):
        return (value or "").strip().lower()

    def create(self, validated_data):
        return create_customer(validated_data, by=self.context["request"].user)

    def update(self, instance, validated_data):
        return update_customer(instance, validated_data, by=self.context["request"].user)


class InteractionSerializer(serializers.ModelSerializer):
    subject_type = serializers.SerializerMethodField()

    class Meta:
        model = Interaction
        fields = ["id", *TIMELINE_FIELDS]

    def get_subject_type(self, obj) -> str | None:
        if obj.subject_type_id is None:
            return None
        from django.contrib.contenttypes.models import ContentType

        ct = ContentType.objects.get_for_id(obj.subject_type_id)  # cached per process
        return f"{ct.app_label}.{ct.model}"


class NoteSerializer(serializers.ModelSerializer):
    author: serializers.StringRelatedField[AbstractBaseUser] = serializers.StringRelatedField()

    class Meta:
        model = Note
        fields = ["id", "body", "author", "created_at"]
        read_only_fields = ["author", "created_at"]


class MergeRequestSerializer(serializers.Serializer):
    # A declared field named `source` shadows Field.source in the stubs; DRF allows it.
    source = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]
        queryset=Customer.objects.all(),
        help_text="The customer merged into this one (it stops being listed).",
    )


class MergeRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = MergeRecord
        fields = [
            "id",
            "source",
            "target",
            "reason",
            "merged_by",
            "moved",
            "snapshot",
            "created_at",
        ]


class BulkTagSerializer(serializers.Serializer):
    customers = serializers.ListField(
        child=serializers.IntegerField(), min_length=1, max_length=10000
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1)


class TagSerializer(serializers.ModelSerializer):
    customer_count = serializers.SerializerMethodField()

    class Meta:
        model = Tag
        fields = ["id", "name", "color", "description", "created_at", "customer_count"]
        read_only_fields = ["created_at"]

    def get_customer_count(self, tag) -> int:
        # Annotated on the list; a tag just created or changed is counted here.
        annotated = getattr(tag, "customer_count", None)
        return tag.customers.count() if annotated is None else annotated


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "filters",
            "owner",
            "member_count",
            "counted_at",
            "created_at",
        ]
        read_only_fields = ["owner", "member_count", "counted_at", "created_at"]

    def validate_filters(self, value):
        try:
            return CustomerFilterSet.validate_saved(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict.get("filters", exc.messages))


class LeadSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True), allow_null=True, required=False
    )
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.active())
    # A declared field named `source` shadows Field.source in the stubs; DRF allows it.
    source = serializers.SerializerMethodField()  # type: ignore[assignment]

    class Meta:
        model = Lead
        fields = [
            "id",
            "customer",
            "title",
            "status",
            "source_channel",
            "source",
            "owner",
            "next_step",
            "next_step_at",
            "lost_reason",
            "lost_note",
            "created_at",
            "updated_at",
            "converted_at",
        ]
        read_only_fields = ["created_at", "updated_at", "converted_at"]

    def get_source(self, obj) -> dict | None:
        if not obj.source_type_id:
            return None
        from django.contrib.contenttypes.models import ContentType

        ct = ContentType.objects.get_for_id(obj.source_type_id)
        return {"type": f"{ct.app_label}.{ct.model}", "id": obj.source_id}

    # The status rules (lost reason, converted_at) are the actions' (`create_lead`,
    # `update_lead`); their ValidationError becomes a 400 in `crm.api.errors`.

    def create(self, validated_data):
        data = dict(validated_data)
        lead, _created = create_lead(
            data.pop("customer"),
            data.pop("title"),
            source_channel=data.pop("source_channel", Channel.MANUAL),
            owner=data.pop("owner", None),
            details=data,
        )
        return lead

    def update(self, instance, validated_data):
        return update_lead(instance, validated_data)
