"""Journeys: small automations marketing edits in the admin (trigger, then ordered steps).

A customer who meets a journey's trigger is enrolled once per trigger event (`entry_key`); the
enrollment stores the customer's place (`position`, the index of the step they are at) and when
that step is due. `JourneyStepRun` is the one row per enrollment and step that makes every step
run at most once for a customer (unique together), and is what the step counts are read from.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .customers import Customer


class JourneyTrigger(models.TextChoices):
    CODE_FOLLOWED = "code_followed", _("followed through a channel code")
    TAG_ADDED = "tag_added", _("tag added")
    LEAD_CREATED = "lead_created", _("lead created")
    ORDER_PAID = "order_paid", _("order paid")
    COUPON_EXPIRING = "coupon_expiring", _("coupon expiring in N days")
    NO_PURCHASE = "no_purchase", _("no purchase for N days")


class StepKind(models.TextChoices):
    WAIT = "wait", _("wait")
    CONDITION = "condition", _("condition")
    ACTION = "action", _("action")


class Journey(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    active = models.BooleanField(_("active"), default=False)
    trigger = models.CharField(_("trigger"), max_length=20, choices=JourneyTrigger.choices)
    trigger_value = models.CharField(
        _("trigger value"),
        max_length=100,
        blank=True,
        help_text=_(
            "Channel code scene, tag name, or number of days; empty for any code, tag or order."
        ),
    )
    require_consent = models.BooleanField(
        _("only customers who consent to marketing"), default=True
    )
    scanned_at = models.DateTimeField(_("last scanned at"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")

    def __str__(self) -> str:
        return self.name


class JourneyStep(models.Model):
    journey = models.ForeignKey(
        Journey, verbose_name=_("journey"), on_delete=models.CASCADE, related_name="steps"
    )
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=10, choices=StepKind.choices)
    name = models.CharField(
        _("condition or action"),
        max_length=40,
        blank=True,
        help_text=_("Which condition or action; empty for a wait."),
    )
    value = models.CharField(
        _("value"),
        max_length=500,
        blank=True,
        help_text=_(
            "Tag, stage, segment, tier, coupon, agent, text or template, as the step needs."
        ),
    )
    wait_minutes = models.PositiveIntegerField(_("wait (minutes)"), default=0)

    class Meta:
        ordering = ["journey", "position"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "position"], name="journey_step_position")
        ]
        verbose_name = _("journey step")
        verbose_name_plural = _("journey steps")

    def __str__(self) -> str:
        return f"{self.position + 1}. {self.get_kind_display()} {self.name}".strip()


class EnrollmentStatus(models.TextChoices):
    WAITING = "waiting", _("waiting")
    RUNNING = "running", _("running")
    DONE = "done", _("finished")
    EXITED = "exited", _("left (condition not met)")
    FAILED = "failed", _("failed")


class JourneyEnrollment(models.Model):
    # No single-column indexes: the due index leads with the journey and the unique constraint
    # with the customer. Every tick rewrites these rows (position, status and due_at are in the
    # due index, so no update is HOT) and each index is one more write per row and step.
    journey = models.ForeignKey(
        Journey,
        verbose_name=_("journey"),
        on_delete=models.CASCADE,
        related_name="enrollments",
        db_index=False,
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    entry_key = models.CharField(_("entered by"), max_length=100, blank=True)
    position = models.PositiveSmallIntegerField(_("at step"), default=0)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=EnrollmentStatus.choices,
        default=EnrollmentStatus.WAITING,
    )
    due_at = models.DateTimeField(_("due at"), default=timezone.now)
    lease_until = models.DateTimeField(_("running until"), null=True, blank=True)
    entered_at = models.DateTimeField(_("entered at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-entered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "journey", "entry_key"], name="journey_enrollment_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["journey", "position", "status", "due_at"], name="journey_enrollment_due"
            )
        ]
        verbose_name = _("journey enrollment")
        verbose_name_plural = _("journey enrollments")

    def __str__(self) -> str:
        return f"{self.journey_id}/{self.customer_id} @ {self.position}"


class StepRunStatus(models.TextChoices):
    STARTED = "started", _("started")
    PASSED = "passed", _("passed")
    EXITED = "exited", _("condition not met")
    FAILED = "failed", _("failed")


class JourneyStepRun(models.Model):
    # Indexed only by the unique (enrollment, step) and (step, status), which lead with each
    # foreign key: a tick writes one row per customer and step.
    enrollment = models.ForeignKey(
        JourneyEnrollment,
        verbose_name=_("enrollment"),
        on_delete=models.CASCADE,
        related_name="runs",
        db_index=False,
    )
    step = models.ForeignKey(
        JourneyStep,
        verbose_name=_("step"),
        on_delete=models.CASCADE,
        related_name="runs",
        db_index=False,
    )
    status = models.CharField(_("status"), max_length=10, choices=StepRunStatus.choices)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="journey_step_run_once")
        ]
        indexes = [models.Index(fields=["step", "status"], name="journey_step_run_status")]
        verbose_name = _("journey step run")
        verbose_name_plural = _("journey step runs")

    def __str__(self) -> str:
        return f"{self.enrollment_id}/{self.step_id}: {self.status}"
