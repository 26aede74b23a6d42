"""Build WeChat Pay notifications the way the platform does, for posting to the hooks."""

import json
import time

from django.test import TestCase

from devtools.sandboxes.wechatpay import PLATFORM_SERIAL
from members import protocol

from .conftest import API_KEY, APIV3_KEY, APPID, MCHID


def v2_body(
    out_trade_no,
    amount_fen,
    transaction_id,
    *,
    openid="oUpF8uMEb4qRXf22hE3X68TekukE",
    key=API_KEY,
    sign_type="MD5",
    include_sign_type=False,
    time_end="20261003120000",
    appid=APPID,
    mchid=MCHID,
    nonce_str="5d2b6c2a8db53831f7eda20af46e531c",
):
    params = {
        "appid": appid,
        "mch_id": mchid,
        "nonce_str": nonce_str,
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        "openid": openid,
        "is_subscribe": "Y",
        "trade_type": "NATIVE",
        "bank_type": "CFT",
        "total_fee": amount_fen,
        "fee_type": "CNY",
        "cash_fee": amount_fen,
        "transaction_id": transaction_id,
        "out_trade_no": out_trade_no,
        "attach": "支付测试",
        "time_end": time_end,
    }
    if include_sign_type:
        params["sign_type"] = sign_type
    params["sign"] = protocol.v2_sign(params, key, sign_type)
    return protocol.build_xml(params).encode()


def post_v2(client, body, mchid=MCHID):
    # Processing is queued after commit; the test transaction never commits, so run it here.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(f"/hooks/wechatpay/{mchid}", data=body, content_type="text/xml")


def v3_request(
    platform_key,
    out_trade_no,
    amount_fen,
    transaction_id,
    *,
    apiv3_key=APIV3_KEY,
    timestamp=None,
    event_type="TRANSACTION.SUCCESS",
    appid=APPID,
    mchid=MCHID,
):
    transaction = {
        "appid": appid,
        "mchid": mchid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2026-10-03T12:00:00+08:00",
        "payer": {"openid": "oUpF8uMEb4qRXf22hE3X68TekukE"},
        "amount": {
            "total": amount_fen,
            "payer_total": amount_fen,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    nonce = "fdasflkja484"
    body = json.dumps(
        {
            "id": "EV-2018022511223320873",
            "create_time": "2026-10-03T12:00:01+08:00",
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": protocol.aes_gcm_encrypt(
                    apiv3_key, nonce, "transaction", json.dumps(transaction).encode()
                ),
                "associated_data": "transaction",
                "nonce": nonce,
            },
        },
        ensure_ascii=False,
    ).encode()
    timestamp = str(timestamp or int(time.time()))
    headers = {
        "HTTP_WECHATPAY_TIMESTAMP": timestamp,
        "HTTP_WECHATPAY_NONCE": "593BEC0C930BF1AFEB40B4A08C8FB242",
        "HTTP_WECHATPAY_SIGNATURE": protocol.v3_sign(
            platform_key, timestamp, "593BEC0C930BF1AFEB40B4A08C8FB242", body
        ),
        "HTTP_WECHATPAY_SERIAL": PLATFORM_SERIAL,
        "HTTP_WECHATPAY_SIGNATURE_TYPE": "WECHATPAY2-SHA256-RSA2048",
    }
    return body, headers


def post_v3(client, body, headers, mchid=MCHID):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            f"/hooks/wechatpay/{mchid}/v3", data=body, content_type="application/json", **headers
        )


# The payment that test refunds are made on.
REFUND_TX = "4200001234202610031234567890"


def refund_body(
    order_no, refund_fee, out_refund_no, *, status="SUCCESS", key=API_KEY, mch=MCHID, appid=APPID
):
    info = {
        "out_refund_no": out_refund_no,
        "out_trade_no": order_no,
        "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
        "refund_fee": refund_fee,
        "refund_id": f"5030010318{out_refund_no}",
        "refund_recv_accout": "支付用户零钱",
        "refund_request_source": "VENDOR_PLATFORM",
        "refund_status": status,
        "settlement_refund_fee": refund_fee,
        "settlement_total_fee": 12900,
        "success_time": "2026-10-05 10:30:00",
        "total_fee": 12900,
        "transaction_id": REFUND_TX,
    }
    return protocol.build_xml(
        {
            "return_code": "SUCCESS",
            "appid": appid,
            "mch_id": mch,
            "nonce_str": "c1c237efc87ee8dfcb3f9124b63a4d94",
            "req_info": protocol.v2_refund_encrypt(key, info),
        }
    ).encode()
