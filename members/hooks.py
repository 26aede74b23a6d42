"""WeChat Pay notification webhooks: verify, store raw, acknowledge; a worker applies them.

`POST /hooks/wechatpay/<mchid>`    API v2 (XML, MD5 or HMAC-SHA256 `sign`), XML reply; also v2
                                   refund notifications (unsigned, `req_info` AES-256-ECB).
`POST /hooks/wechatpay/<mchid>/v3` API v3 (JSON, RSA signature headers, AES-256-GCM resource).

A forged notification (bad signature, a `req_info` the API key does not decrypt) is refused with 403 and nothing is written. A malformed
one is stored as `rejected` for inspection and refused with 400. A verified one is stored
(crm.ingestion) and acknowledged; `members.actions.payments` processes it idempotently.
"""

import json
import logging
import time

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.ingestion import enqueue_delivery, store_raw_delivery
from crm.models import RawDelivery

from . import protocol
from .models import MerchantConfig

logger = logging.getLogger(__name__)
SOURCE = "wechatpay"
MAX_CLOCK_SKEW = 300  # seconds; v3 notifications older or newer than this are replays


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


def _reject(request, mchid: str, body: bytes, error: str) -> None:
    store_raw_delivery(
        source=SOURCE,
        account=mchid,
        request=request,
        body=body,
        status=RawDelivery.Status.REJECTED,
        error=error[:2000],
    )


@csrf_exempt
@require_POST
def wechatpay_v2(request, mchid: str):
    merchant = MerchantConfig.objects.filter(mchid=mchid, active=True).first()
    if merchant is None:
        return _xml(False, "unknown mchid", 404)
    body = request.body
    if len(body) > protocol.MAX_BODY:
        return _xml(False, "body too large", 413)
    try:
        params = protocol.parse_xml(body)
    except protocol.ProtocolError as exc:
        _reject(request, mchid, body, str(exc))
        return _xml(False, "malformed XML", 400)
    if "req_info" in params:
        # A refund notification: unsigned; genuine if the merchant's API key decrypts it.
        try:
            if params.get("mch_id") != mchid:
                raise protocol.ProtocolError("mch_id is not this merchant's")
            protocol.v2_refund_decrypt(merchant.api_key, params["req_info"])
        except protocol.ProtocolError as exc:
            logger.warning("WeChat Pay v2 refund notification for %s refused: %s", mchid, exc)
            return _xml(False, "解密失败", 403)
    elif params.get("mch_id") != mchid or not protocol.v2_verify(
        params, merchant.api_key, merchant.sign_type
    ):
        logger.warning("WeChat Pay v2 notification for %s refused: bad signature", mchid)
        return _xml(False, "签名失败", 403)
    delivery = store_raw_delivery(source=SOURCE, account=mchid, request=request, body=body)
    enqueue_delivery(delivery)
    return _xml(True, "OK", 200)


@csrf_exempt
@require_POST
def wechatpay_v3(request, mchid: str):
    merchant = MerchantConfig.objects.filter(mchid=mchid, active=True).first()
    if merchant is None:
        return _fail("unknown mchid", 404)
    body = request.body
    if len(body) > protocol.MAX_BODY:
        return _fail("body too large", 413)
    timestamp = request.headers.get("Wechatpay-Timestamp", "")
    nonce = request.headers.get("Wechatpay-Nonce", "")
    signature = request.headers.get("Wechatpay-Signature", "")
    serial = request.headers.get("Wechatpay-Serial", "")
    if merchant.platform_serial and serial != merchant.platform_serial:
        return _fail("unknown Wechatpay-Serial", 403)
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
        return _fail("Wechatpay-Timestamp missing or too far from now", 403)
    if not protocol.v3_verify(merchant.platform_public_key, timestamp, nonce, body, signature):
        logger.warning("WeChat Pay v3 notification for %s refused: bad signature", mchid)
        return _fail("签名验证失败", 403)
    try:
        envelope = json.loads(body)
        resource = envelope["resource"]
        protocol.aes_gcm_decrypt(
            merchant.apiv3_key,
            resource.get("nonce", ""),
            resource.get("associated_data", ""),
            resource.get("ciphertext", ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _reject(request, mchid, body, f"{type(exc).__name__}: {exc}")
        return _fail("malformed or undecryptable notification", 400)
    delivery = store_raw_delivery(source=SOURCE, account=mchid, request=request, body=body)
    enqueue_delivery(delivery)
    return HttpResponse(status=204)
