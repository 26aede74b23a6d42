"""Conversation labels in the admin: marketing defines them, agents pick them in the inbox."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from ..models import ConversationLabel


@admin.register(ConversationLabel)
class ConversationLabelAdmin(admin.ModelAdmin):
    list_display = ["name", "color", "description", "conversation_count"]
    search_fields = ["name"]
    fields = ["name", "color", "description"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n=Count("conversations"))

    @admin.display(description=_("conversations"), ordering="n")
    def conversation_count(self, obj):
        return obj.n
