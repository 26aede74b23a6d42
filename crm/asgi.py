"""The ASGI application: the Django site over HTTP and the live inbox's WebSocket.

Served by Daphne (`daphne crm.asgi:application`; `manage.py runserver` in development and the
demo, since daphne is in INSTALLED_APPS). Production may run it beside gunicorn, routing only
`/ws/` to it, or instead of gunicorn: see README "Live inbox".
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django_application = get_asgi_application()  # before importing code that imports models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from crm.inbox.consumers import InboxConsumer  # noqa: E402
from crm.webhooks import AsgiWebhookDispatch  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Webhooks (/hooks/...) take their own, shorter request path, as in crm.wsgi.
        "http": AsgiWebhookDispatch(django_application),
        # The origin check refuses sockets opened by other sites' pages with the agent's cookie.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/inbox/", InboxConsumer.as_asgi())]))
        ),
    }
)
