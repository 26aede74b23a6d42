"""The webhook benchmarks' baseline: the smallest Django app that stores a webhook body.

No installed apps, no middleware, one URL; its view runs one `INSERT` of the body into the same
table (and so the same indexes) the project's hooks store into, `crm_rawdelivery`, in
autocommit, and answers `success`. Nothing of the project is imported: this is "a minimal
Django view" as anyone would write it, the speed the project's webhooks are measured against
(bench.webhooks, under the same gunicorn, same connections, same bodies, in the same run).

`gunicorn bench.minimal_hook:application` with DATABASE_URL set.
"""

import os

import dj_database_url
from django.conf import settings

SOURCE = "bench-minimal"  # no processor picks these rows up

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-minimal-hook",  # noqa: S106  signs nothing: no sessions, no forms
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        ROOT_URLCONF=__name__,
        USE_TZ=True,
        DATABASES={"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)},
        LOGGING_CONFIG=None,
    )

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

INSERT = (
    "INSERT INTO crm_rawdelivery (source, account, method, path, query, headers, body, "
    "remote_addr, received_at, status, error, attempts, dedupe_key) "
    "VALUES (%s, %s, 'POST', '', '{}', '{}', %s, '', now(), 'pending', '', 0, '')"
)


def minimal_hook(request, account: str):
    with connection.cursor() as cursor:
        cursor.execute(INSERT, [SOURCE, account[:64], request.body])
    return HttpResponse("success", content_type="text/plain")


urlpatterns = [path("minimal/<str:account>", minimal_hook)]
application = get_wsgi_application()
