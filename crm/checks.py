"""Deploy checks: `manage.py check --deploy` refuses a development secret."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_secrets(app_configs, **kwargs):
    problems = []
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        problems.append(
            Error(
                "SECRET_KEY is the public development key.",
                hint="Set SECRET_KEY in the environment to a long random value.",
                id="crm.E001",
            )
        )
    if not settings.FIELD_ENCRYPTION_KEY:
        problems.append(
            Warning(
                "FIELD_ENCRYPTION_KEY is not set; secrets at rest use a key derived from SECRET_KEY.",
                hint="Set FIELD_ENCRYPTION_KEY (crm.fields explains how to make one).",
                id="crm.W001",
            )
        )
    return problems
