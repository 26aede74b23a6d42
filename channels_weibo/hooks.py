"""`GET|POST /hooks/weibo/<uid>`: the fan-service callback, raw first.

GET is the URL verification: a valid signature gets `echostr` back as text. Every POST is
signed the same way (sha1 of the sorted app secret, timestamp and nonce); a bad signature is
refused with 403 and nothing is stored. A signed POST is stored as received, handed to a worker
and answered with an empty body (no passive reply: the platform does not retry and replies go
through messages/reply). A signed body that is not a push is stored as `rejected` and gets 400.
The same signed push again (same signature, timestamp and nonce: the body is not signed) is
answered without being stored twice (crm.ingestion.store_push_once).
"""

from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.ingestion import store_push_once, store_raw_delivery
from crm.models import RawDelivery
from crm.security import stale_push
from crm.webhooks import AccountCache, read_body

from .fanservice import BadPush, parse_push
from .models import WeiboAccount
from .protocol import signature_ok, signed_identity

SOURCE = "weibo"
MAX_BODY = 1024 * 1024
ACCOUNTS = AccountCache(WeiboAccount, "uid")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def fanservice_hook(request, uid: str):
    query = request.GET
    body = read_body(request, MAX_BODY) if request.method == "POST" else b""
    account = ACCOUNTS.current(uid)  # one Redis round trip, no query (crm.webhooks)
    if account is None:
        raise Http404("No WeiboAccount matches the given query.")
    if not signature_ok(
        account.app_secret,
        query.get("timestamp", ""),
        query.get("nonce", ""),
        query.get("signature", ""),
    ):
        return HttpResponseForbidden("bad signature", content_type="text/plain")
    if request.method == "GET":
        return HttpResponse(query.get("echostr", ""), content_type="text/plain")
    if stale_push(query.get("timestamp", "")):  # a replay of a captured push
        return HttpResponseForbidden("stale timestamp", content_type="text/plain")
    if body is None:
        return HttpResponse("body too large", status=413, content_type="text/plain")
    try:
        parse_push(body)
    except BadPush as exc:
        store_raw_delivery(
            source=SOURCE,
            account=uid,
            request=request,
            body=body,
            status=RawDelivery.Status.REJECTED,
            error=str(exc),
        )
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    # The same signed push again (a retry, a replay) is answered without a second row.
    store_push_once(SOURCE, uid, request, body, signed=signed_identity(query))
    return HttpResponse("", content_type="text/plain")
