"""The test client and the live server send webhooks the way production does.

Django's test client and live server call Django's handler with the whole middleware stack, but
production (`crm.wsgi`, `crm.asgi`) hands every path under WEBHOOK_PREFIX to
`crm.webhooks.HookApp`. So `install()` makes the test client (and every client built on it:
DRF's APIClient) and the live server (`live_server`, which the sandboxes push to) route those
paths to HookApp as well; the hooks' tests then test the path the platforms reach. As Django's
ClientHandler does, the test's database connection is not closed by the request's signals, and
the response carries `wsgi_request`.
"""

from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test.client import ClientHandler
from django.test.testcases import LiveServerThread

from crm.webhooks import WEBHOOK_PREFIX, WebhookDispatch

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

    thread_init = LiveServerThread.__init__

    def init(self, host, static_handler, *args, **kwargs):
        def handler(application):
            return WebhookDispatch(static_handler(application))

        thread_init(self, host, handler, *args, **kwargs)

    LiveServerThread.__init__ = init
    _installed = True
