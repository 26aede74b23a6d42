"""WeChat Pay notification webhooks: verify, store raw, acknowledge; a worker applies them.

`POST /hooks/wechatpay/<mchid>`    API v2 (XML, MD5 or HMAC-SHA256 `sign`), XML reply; also v2
                                   refund notifications (unsigned, `req_info` AES-256-ECB).
`POST /hooks/wechatpay/<mchid>/v3` API v3 (JSON, RSA signature headers, AES-256-GCM resource).

A notification is bound to the merchant of its URL: a v2 one is checked with that merchant's
configured sign type only (its own `sign_type` cannot pick MD5 for an HMAC-SHA256 merchant), a
refund's `req_info` must decrypt with its API key, and the mchid and appid it names (v3: inside
the decrypted resource) must be the merchant's. A forged one, or one naming another merchant, is
refused with 403 and nothing is written. The same notification again (what its signature
covers: crm.ingestion.store_push_once) is acknowledged without being stored twice; a v3 one
outside MAX_CLOCK_SKEW is refused. A malformed one is refused with 400; since it cannot be
authenticated, all that is kept of it is an error record (status `rejected`) holding its first
REJECTED_BODY_BYTES bytes, at most REJECTED_PER_MINUTE records per merchant per minute (counted in
the shared cache; beyond that, or with the cache down, nothing). A verified one is stored
(crm.ingestion) and acknowledged; `members.actions.payments` processes it idempotently, looking
orders up within the merchant.
"""

import json
import logging
import time

from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.ingestion import store_push_once, store_raw_delivery
from crm.models import RawDelivery
from crm.webhooks import AccountCache, read_body

from . import protocol
from .models import MerchantConfig

logger = logging.getLogger(__name__)
SOURCE = "wechatpay"
MAX_CLOCK_SKEW = 300  # seconds; v3 notifications older or newer than this are replays
REJECTED_BODY_BYTES = 2048  # enough to see what was sent, too little to store a flood
REJECTED_PER_MINUTE = 10  # error records per merchant per minute
MERCHANTS = AccountCache(MerchantConfig, "mchid", active=True)


def _xml(ok: bool, message: str, status: int) -> HttpResponse:
    return HttpResponse(
        protocol.v2_reply(ok, message), status=status, content_type="text/xml; charset=utf-8"
    )


def _fail(message: str, status: int) -> JsonResponse:
    return JsonResponse(
        {"code": "FAIL", "message": message},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def _may_record_rejection(mchid: str) -> bool:
    """Count one error record against this merchant's minute; False once over the limit."""
    key = f"wechatpay-rejected:{mchid}:{int(time.time() // 60)}"
    try:
        cache.add(key, 0, 120)
        return cache.incr(key) <= REJECTED_PER_MINUTE
    except Exception:  # noqa: BLE001  cache down: store nothing rather than an unlimited flood
        return False


def _reject(request, mchid: str, body: bytes, error: str) -> None:
    """Keep a capped, rate-limited record of a notification refused as malformed."""
    if not _may_record_rejection(mchid):
        logger.warning("WeChat Pay notification for %s refused, not recorded: %s", mchid, error)
        return
    if len(body) > REJECTED_BODY_BYTES:
        error = f"{error[:1900]} (body cut to {REJECTED_BODY_BYTES} of {len(body)} bytes)"
    store_raw_delivery(
        source=SOURCE,
        account=mchid,
        request=request,
        body=body[:REJECTED_BODY_BYTES],
        status=RawDelivery.Status.REJECTED,
        error=error[:2000],
    )


@csrf_exempt
@require_POST
def wechatpay_v2(request, mchid: str):
    body = read_body(request, protocol.MAX_BODY)
    params, malformed = None, ""
    if body is not None:
        try:
            params = protocol.parse_xml(body)
        except protocol.ProtocolError as exc:
            malformed = str(exc)
    merchant = MERCHANTS.current(mchid)  # one Redis round trip, no query (crm.webhooks)
    if merchant is None:
        return _xml(False, "unknown mchid", 404)
    if body is None:
        return _xml(False, "body too large", 413)
    if params is None:
        _reject(request, mchid, body, malformed)
        return _xml(False, "malformed XML", 400)
    try:
        protocol.check_owner(
            params, mchid, merchant.appid, mchid_field="mch_id", appid_required=True
        )
    except protocol.ProtocolError:
        logger.warning("WeChat Pay v2 notification for %s refused: another merchant's", mchid)
        return _xml(False, "商户号或appid不符", 403)
    if "req_info" in params:
        # A refund notification: unsigned; genuine if the merchant's API key decrypts it, and
        # identified by that ciphertext (the rest of the document is not authenticated).
        try:
            protocol.v2_refund_decrypt(merchant.api_key, params["req_info"])
        except protocol.ProtocolError as exc:
            logger.warning("WeChat Pay v2 refund notification for %s refused: %s", mchid, exc)
            return _xml(False, "解密失败", 403)
    elif not protocol.v2_verify(params, merchant.api_key, merchant.sign_type):
        logger.warning("WeChat Pay v2 notification for %s refused: bad signature", mchid)
        return _xml(False, "签名失败", 403)
    # The same notification again (a retry, a replay): answered, not stored twice.
    store_push_once(SOURCE, mchid, request, body, signed=_v2_identity(params))
    return _xml(True, "OK", 200)


def _v2_identity(params: dict[str, str]) -> bytes:
    """What identifies a v2 notification: a refund's ciphertext (the rest of its document is
    not authenticated), or what a payment's signature covers."""
    if "req_info" in params:
        return b"refund\n" + params["req_info"].encode()
    return protocol.v2_signed_content(params)


@csrf_exempt
@require_POST
def wechatpay_v3(request, mchid: str):
    body = read_body(request, protocol.MAX_BODY)
    timestamp = request.headers.get("Wechatpay-Timestamp", "")
    nonce = request.headers.get("Wechatpay-Nonce", "")
    signature = request.headers.get("Wechatpay-Signature", "")
    serial = request.headers.get("Wechatpay-Serial", "")
    merchant = MERCHANTS.current(mchid)  # one Redis round trip, no query (crm.webhooks)
    if merchant is None:
        return _fail("unknown mchid", 404)
    if body is None:
        return _fail("body too large", 413)
    if merchant.platform_serial and serial != merchant.platform_serial:
        return _fail("unknown Wechatpay-Serial", 403)
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
        return _fail("Wechatpay-Timestamp missing or too far from now", 403)
    if not protocol.v3_verify(merchant.platform_public_key, timestamp, nonce, body, signature):
        logger.warning("WeChat Pay v3 notification for %s refused: bad signature", mchid)
        return _fail("签名验证失败", 403)
    try:
        envelope = json.loads(body)
        data = protocol.v3_resource(merchant.apiv3_key, envelope)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _reject(request, mchid, body, f"{type(exc).__name__}: {exc}")
        return _fail("malformed or undecryptable notification", 400)
    try:
        protocol.check_v3_owner(envelope, data, merchant.mchid, merchant.appid)
    except protocol.ProtocolError as exc:
        logger.warning("WeChat Pay v3 notification for %s refused: %s", mchid, exc)
        return _fail(str(exc), 403)
    # What the signature covers identifies the notification: the same one again is a replay,
    # answered and not stored twice.
    store_push_once(
        SOURCE, mchid, request, body, signed=protocol.v3_message(timestamp, nonce, body)
    )
    return HttpResponse(status=204)
