"""`GET|POST /hooks/wechat/<appid>`: WeChat's server verification and pushes (raw first).

GET: check `signature`, answer `echostr`. POST: check `signature` (and `msg_signature` for an
encrypted push), make sure the body can be read, store it (crm.ingestion.store_raw_delivery),
enqueue its processing after commit, and answer `success`; the work happens in a worker. The
same signed push again (what its signatures cover: protocol.signed_identity) is answered
`success` without being stored twice (crm.ingestion.store_push_once).

Answers: unknown appid 404; bad signature 403; a POST whose timestamp is outside the replay
window (settings.WEBHOOK_MAX_AGE) 403; body over 1 MiB 413; malformed XML, a DTD or
entities 400, with the body still recorded (status `rejected`) for inspection. A database that
cannot store the delivery raises: Django answers 500 and WeChat retries; never `success`.
"""

from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from crm.ingestion import store_push_once, store_raw_delivery
from crm.models import RawDelivery
from crm.security import stale_push
from crm.webhooks import AccountCache, read_body

from . import protocol
from .models import OfficialAccount

MAX_BODY = 1024 * 1024
SOURCE = "wechat"
ACCOUNTS = AccountCache(OfficialAccount, "appid", active=True)


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def wechat_hook(request, appid: str):
    query = request.GET
    body = read_body(request, MAX_BODY) if request.method == "POST" else b""
    account = ACCOUNTS.current(appid)  # one Redis round trip, no query (crm.webhooks)
    if account is None:
        raise Http404("No OfficialAccount matches the given query.")
    if not protocol.check_signature(
        account.token,
        query.get("signature", ""),
        query.get("timestamp", ""),
        query.get("nonce", ""),
    ):
        return _text("invalid signature", 403)
    if request.method == "GET":
        return _text(query.get("echostr", ""))
    if stale_push(query.get("timestamp", "")):
        return _text("stale timestamp", 403)
    if body is None:
        return _text("body too large", 413)
    try:
        fields, encrypted = protocol.open_push(account, body, query)
        protocol.parse_message(fields)
    except protocol.SignatureError:
        return _text("invalid msg_signature", 403)
    except protocol.ProtocolError as exc:
        store_raw_delivery(
            source=SOURCE,
            account=appid,
            request=request,
            body=body,
            status=RawDelivery.Status.REJECTED,
            error=f"{exc.reason}: {exc}",
        )
        return _text(f"bad request: {exc}", 400)
    # The same signed push again (a retry, a replay) is answered without a second row.
    store_push_once(SOURCE, appid, request, body, signed=protocol.signed_identity(query, encrypted))
    return _text("success")
