"""WSGI application for bench.wechat: the project, plus the baseline view `POST /bare/<appid>`.

The bare view goes through the same Django stack as `/hooks/wechat/<appid>` (middleware, database
connections, gunicorn workers) but does only what every webhook must: store the body with
`crm.ingestion.store_raw_delivery` and answer `success`. No signature, no decryption, no XML, no
publish. Everything else is routed to crm.urls, so one gunicorn serves both in the same run.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
application = get_wsgi_application()

# Imported once Django is set up (crm.urls needs the app registry).
from django.conf import settings  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from crm.ingestion import store_raw_delivery  # noqa: E402

SOURCE = "bench-bare"  # not "wechat": no processor picks these rows up


@csrf_exempt
def bare_hook(request, appid: str):
    store_raw_delivery(source=SOURCE, account=appid, request=request, body=request.body)
    return HttpResponse("success", content_type="text/plain; charset=utf-8")


urlpatterns = [path("bare/<str:appid>", bare_hook), path("", include("crm.urls"))]
# A benchmark-only URLconf: crm/urls.py stays as production has it.
settings.ROOT_URLCONF = __name__
