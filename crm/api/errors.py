"""The API's one exception handler: an action's refusal becomes a field-level 400.

Actions (`crm.actions`, `members.actions`, `crm.inbox`...) refuse with Django's ValidationError
or a subclass of it (MergeError, ActionError, InboxError...), a message dict naming the field
when there is one. Views call them without a try/except: this handler gives the body DRF gives
its own validation errors, `{"field": ["message"]}` (or a list of messages when the error names
no field), with status 400. Everything else is DRF's default handling.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler


def as_drf_error(exc: DjangoValidationError) -> ValidationError:
    """The DRF error with the same messages: by field if the error has fields, else a list."""
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


def api_exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: Django ValidationErrors as 400s, the rest as DRF."""
    if isinstance(exc, DjangoValidationError):
        exc = as_drf_error(exc)
    return exception_handler(exc, context)
