import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
# Webhooks (/hooks/...) take their own, shorter request path: crm.webhooks.
from crm.webhooks import WebhookDispatch  # noqa: E402

application = WebhookDispatch(get_wsgi_application())
