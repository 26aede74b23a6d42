"""The error every members action raises when it refuses."""

from django.core.exceptions import ValidationError


class ActionError(ValidationError):
    """A refused action: `field` and a clear message (shown as a field error by the API),
    `reason` a stable code tests and POS systems can match on."""

    def __init__(self, field: str, message: str, reason: str):
        super().__init__({field: [ValidationError(message, code=reason)]})
        self.field, self.reason, self.text = field, reason, str(message)
