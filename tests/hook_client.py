"""The test client sends webhooks the way production does.

Django's test client calls Django's handler with the whole middleware stack, but production
(`crm.wsgi`, `crm.asgi`) hands every path under WEBHOOK_PREFIX to `crm.webhooks.HookApp`. So
`install()` makes the test client (and every client built on it: DRF's APIClient) route those
paths to HookApp as well; the hooks' tests then test the path the platforms reach. As Django's
ClientHandler does, the test's database connection is not closed by the request's signals, and
the response carries `wsgi_request`.
"""

from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test.client import ClientHandler

from crm.webhooks import WEBHOOK_PREFIX

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from crm.wsgi import application

    hooks = application.hooks
    django_call = ClientHandler.__call__

    def call(self, environ):
        if not environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
            return django_call(self, environ)
        request_started.disconnect(close_old_connections)
        try:
            request, response = hooks.handle(environ)
        finally:
            request_started.connect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response.close()  # what the server does: sends request_finished
        finally:
            request_finished.connect(close_old_connections)
        response.wsgi_request = request
        return response

    ClientHandler.__call__ = call
    _installed = True
