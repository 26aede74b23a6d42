"""Journeys in the admin: the trigger, the ordered steps with their live counts, and read-only
lists of who is where."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from ..actions.journeys import check_step, check_steps_change, check_trigger
from ..journeys.engine import step_counts
from ..journeys.registry import ACTIONS, CONDITIONS
from ..models import Journey, JourneyEnrollment, JourneyStep, JourneyStepRun
from .readonly import ReadOnlyAdmin


def _name_choices():
    return (
        [("", "—")]
        + [(_("Conditions"), [(c.name, c.label) for c in CONDITIONS.values()])]
        + [(_("Actions"), [(a.name, a.label) for a in ACTIONS.values()])]
    )


class JourneyStepForm(forms.ModelForm):
    name = forms.ChoiceField(label=_("condition or action"), required=False, choices=())

    class Meta:
        model = JourneyStep
        fields = ["position", "kind", "name", "value", "wait_minutes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].choices = _name_choices()

    def clean(self):
        data = super().clean()
        if self.cleaned_data.get("DELETE") or not data.get("kind"):
            return data
        check_step(
            data["kind"],
            data.get("name") or "",
            data.get("value") or "",
            data.get("wait_minutes") or 0,
        )
        return data


class JourneyStepFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        before = (
            set(self.instance.steps.values_list("position", flat=True))
            if self.instance.pk
            else set()
        )
        after = {
            form.cleaned_data["position"]
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        }
        check_steps_change(self.instance, before, after)


class JourneyStepInline(admin.TabularInline):
    model = JourneyStep
    form = JourneyStepForm
    formset = JourneyStepFormSet
    extra = 1
    ordering = ["position"]
    readonly_fields = ["counts"]

    @admin.display(description=_("waiting / passed / left / failed"))
    def counts(self, step):
        if step.pk is None:
            return "—"
        journey = step.journey
        if not hasattr(journey, "_step_counts"):
            journey._step_counts = step_counts(journey)
        row = journey._step_counts.get(step.pk, {})
        return " / ".join(str(row.get(k, 0)) for k in ("waiting", "passed", "exited", "failed"))


class JourneyForm(forms.ModelForm):
    class Meta:
        model = Journey
        fields = ["name", "active", "trigger", "trigger_value", "require_consent"]

    def clean(self):
        data = super().clean()
        if data.get("trigger"):
            try:
                check_trigger(data["trigger"], data.get("trigger_value") or "")
            except ValidationError as exc:
                raise forms.ValidationError(exc.message_dict["trigger_value"]) from exc
        return data


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    form = JourneyForm
    inlines = [JourneyStepInline]
    list_display = ["name", "active", "trigger", "trigger_value", "created_at"]
    list_filter = ["active", "trigger"]
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(JourneyEnrollment)
class JourneyEnrollmentAdmin(ReadOnlyAdmin):
    list_display = ["journey", "customer", "position", "status", "due_at", "entered_at"]
    list_filter = ["journey", "status"]
    list_select_related = ["journey", "customer"]
    raw_id_fields = ["customer"]


@admin.register(JourneyStepRun)
class JourneyStepRunAdmin(ReadOnlyAdmin):
    list_display = ["step", "enrollment", "status", "detail", "at"]
    list_filter = ["status", "step__journey"]
    list_select_related = ["step", "step__journey"]
