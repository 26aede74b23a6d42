"""Hostile input to the webhook parsers: arbitrary bytes and text never raise anything but the
error each function documents (hypothesis).

`make test` runs FUZZ_EXAMPLES=200 examples per property (the default); `make fuzz` runs many
more. Any other exception (IndexError, struct.error, UnicodeDecodeError, KeyError...) would be a
500 in a webhook.
"""

import base64
import os
import secrets
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_wechat import protocol as wx
from channels_weibo import protocol as wb
from members import protocol as pay

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",  # `make fuzz` explores; CI repeats
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
APPID = "wx5823bf96d3bd56c7"

xml_like = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=1024),
    st.builds(
        lambda tag, body, extra: f"<{tag}>{body}</{tag}>{extra}",
        st.sampled_from(["xml", "XML", "x", "xml a='1'", "!DOCTYPE xml", "?xml version='1.0'?"]),
        st.text(max_size=300),
        st.text(max_size=20),
    ),
    st.builds(
        lambda fields: (
            "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
        ),
        st.dictionaries(
            st.sampled_from(
                [
                    "ToUserName",
                    "FromUserName",
                    "CreateTime",
                    "MsgType",
                    "Content",
                    "MsgId",
                    "Event",
                    "EventKey",
                    "Encrypt",
                    "Latitude",
                    "Ticket",
                    "return_code",
                    "sign",
                    "total_fee",
                ]
            ),
            st.text(max_size=60),
        ),
    ),
)


# WeChat (channels_wechat.protocol) -----------------------------------------------------------


@fuzz
@given(xml_like)
def test_wechat_parse_xml_raises_only_protocol_error(body):
    try:
        result = wx.parse_xml(body)
    except wx.ProtocolError:
        return
    assert isinstance(result, dict)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


xml_values = st.recursive(
    st.text(max_size=40),
    lambda inner: st.dictionaries(st.sampled_from(["a", "Item", "Title"]), inner, max_size=3),
    max_leaves=6,
)
PUSH_FIELDS = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Content",
    "MsgId",
    "Event",
    "EventKey",
    "Latitude",
    "Longitude",
    "Precision",
    "PicUrl",
    "MediaId",
    "Recognition",
    "ScanCodeInfo",
    "SendLocationInfo",
    "Status",
    "MenuId",
    "Ticket",
    "Label",
    "Scale",
]


def _element(tag, value):
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(_element(k, v) for k, v in value.items()) + f"</{tag}>"
    return f"<{tag}><![CDATA[{value.replace(']]>', '')}]]></{tag}>"


@fuzz
@given(
    st.dictionaries(st.sampled_from(PUSH_FIELDS), xml_values, max_size=12),
    st.sampled_from(["text", "image", "event", "location", "link", "voice", "video", "x"]),
)
def test_wechat_parsed_pushes_raise_only_protocol_error(fields, msg_type):
    """What parse_xml gives (text, or nested elements as dicts) goes into parse_message."""
    # Nested elements only where WeChat nests them; elsewhere parse_message refuses them.
    for name in list(fields):
        if name not in ("ScanCodeInfo", "SendLocationInfo") and not isinstance(fields[name], str):
            fields[name] = "x"
    fields.setdefault("FromUserName", "o-user")
    fields.setdefault("MsgType", msg_type)
    xml = "<xml>" + "".join(_element(k, v) for k, v in fields.items()) + "</xml>"
    try:
        message = wx.parse_message(wx.parse_xml(xml))
    except wx.ProtocolError:
        return
    assert isinstance(message, dict)
    assert isinstance(wx.event_key(message), str)


@fuzz
@given(
    st.one_of(
        st.text(max_size=400),
        st.binary(max_size=512).map(lambda b: base64.b64encode(b).decode()),
        st.integers(1, 40).flatmap(
            lambda n: st.binary(min_size=16 * n, max_size=16 * n).map(
                lambda b: base64.b64encode(b).decode()
            )
        ),
    ),
    st.text(max_size=30),
)
def test_wechat_decrypt_raises_only_protocol_error(encrypt, appid):
    try:
        xml = wx.decrypt(AES_KEY, encrypt, appid)
    except wx.ProtocolError:
        return
    assert isinstance(xml, str)


@fuzz
@given(st.text(max_size=400), st.text(alphabet=st.characters(max_codepoint=127), max_size=30))
def test_wechat_encrypt_decrypt_round_trip_and_foreign_appid(xml, appid):
    sealed = wx.encrypt(AES_KEY, xml, APPID)
    assert wx.decrypt(AES_KEY, sealed, APPID) == xml
    if appid != APPID:
        with pytest.raises(wx.ProtocolError) as exc:
            wx.decrypt(AES_KEY, sealed, appid)
        assert exc.value.reason == "appid"


@fuzz
@given(st.text(max_size=60))
def test_wechat_aes_key_raises_only_value_error(key):
    try:
        assert len(wx.aes_key(key)) == 32
    except ValueError:
        pass


ascii_text = st.text(alphabet=st.characters(max_codepoint=127), max_size=50)


@fuzz
@given(st.text(max_size=50), st.text(max_size=50), st.text(max_size=20), st.text(max_size=20))
def test_wechat_signature_check_never_raises(token, signature, timestamp, nonce):
    # Any text, non-ASCII too (?signature=%C2%80 once raised TypeError: the test below).
    assert wx.check_signature(token, signature, timestamp, nonce) in (True, False)
    if timestamp and nonce:
        good = wx.sha1_signature(token, timestamp, nonce)
        assert wx.check_signature(token, good, timestamp, nonce) is True


def test_wechat_signature_check_with_a_non_ascii_signature_is_false():
    assert wx.check_signature("token", "\x80", "1", "2") is False


# Weibo (channels_weibo.protocol) -------------------------------------------------------------


@fuzz
@given(st.text(max_size=40), st.text(max_size=20), st.text(max_size=20), ascii_text)
def test_weibo_signature_ok_never_raises(secret, timestamp, nonce, given_signature):
    assert wb.signature_ok(secret, timestamp, nonce, given_signature) in (True, False)


def test_weibo_signature_with_a_non_ascii_signature_is_false():
    assert wb.signature_ok("secret", "1", "2", "\x80") is False


@fuzz
@given(st.text(max_size=60))
def test_weibo_parse_time_raises_only_value_error(value):
    try:
        moment = wb.parse_time(value)
    except ValueError:
        return
    assert moment.tzinfo is not None


@fuzz
@given(st.dictionaries(st.sampled_from(["id", "idstr", "mid", "text"]), json_values, max_size=4))
def test_weibo_idstr_raises_only_value_error(obj):
    try:
        ident = wb.idstr(obj)
    except ValueError:
        return
    assert ident.isdigit()


@fuzz
@given(json_values)
def test_weibo_counters_and_text_helpers_never_raise(value):
    assert isinstance(wb.as_int(value), int)
    text = value if isinstance(value, str) else str(value)
    assert all(isinstance(n, str) for n in wb.repost_chain(text))
    assert isinstance(wb.own_text(text), str)
    assert all(isinstance(n, str) for n in wb.mentioned_names(text))


# WeChat Pay (members.protocol) ---------------------------------------------------------------


@fuzz
@given(xml_like.map(lambda b: b if isinstance(b, bytes) else b.encode("utf-8", "surrogatepass")))
def test_pay_parse_xml_raises_only_protocol_error(body):
    try:
        result = pay.parse_xml(body)
    except pay.ProtocolError:
        return
    assert isinstance(result, dict)


@fuzz
@given(
    st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=8), st.text(max_size=40)
)
def test_pay_v2_verify_never_raises(params, key):
    assert pay.v2_verify(params, key) in (True, False)
    assert pay.v2_verify(params, key, "HMAC-SHA256") in (True, False)


@fuzz
@given(st.text(max_size=30))
def test_pay_parse_time_end_raises_only_protocol_error(value):
    try:
        assert pay.parse_time_end(value).tzinfo is not None
    except pay.ProtocolError:
        pass


@fuzz
@given(
    st.text(max_size=300),
    st.text(max_size=20),
    st.text(max_size=40),
    st.binary(max_size=300),
    st.text(max_size=400),
)
def test_pay_v3_verify_never_raises(pem, timestamp, nonce, body, signature):
    assert pay.v3_verify(pem, timestamp, nonce, body, signature) is False


@fuzz
@given(
    st.one_of(
        st.text(min_size=32, max_size=32, alphabet=st.characters(max_codepoint=127)),
        st.binary(max_size=40),
    ),
    st.binary(min_size=0, max_size=16),
    st.text(max_size=20),
    st.one_of(
        st.text(max_size=200), st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode())
    ),
)
def test_pay_aes_gcm_decrypt_raises_only_protocol_error(key, nonce, associated_data, ciphertext):
    try:
        pay.aes_gcm_decrypt(key, nonce, associated_data, ciphertext)
    except pay.ProtocolError:
        pass


@fuzz
@given(st.text(max_size=400))
def test_pay_load_public_key_raises_only_protocol_error(pem):
    try:
        pay.load_public_key(pem)
    except pay.ProtocolError:
        pass


# The 5xx the fuzzing found (fixed), through the real webhook ----------------------------------


@pytest.fixture
def plaintext_account(db):
    from channels_wechat.models import OfficialAccount

    return OfficialAccount.objects.create(
        appid="wxfuzz0000000001",
        name="模糊测试号",
        app_secret="s",
        token="fuzztoken",
        mode="plaintext",
    )


def _signed_query(token="fuzztoken", timestamp=None, nonce=None):
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**9))  # the same nonce and second: a replay
    return f"signature={wx.sha1_signature(token, timestamp, nonce)}&timestamp={timestamp}&nonce={nonce}"


def test_wechat_hook_refuses_a_non_ascii_signature_with_403(plaintext_account):
    from django.test import Client

    response = Client(raise_request_exception=False).get(
        "/hooks/wechat/wxfuzz0000000001?signature=%C2%80&timestamp=1&nonce=1&echostr=x"
    )
    assert response.status_code == 403


def test_wechat_hook_refuses_a_nested_from_user_name_with_400(plaintext_account):
    from django.test import Client

    body = (
        "<xml><ToUserName>gh_1</ToUserName><FromUserName><a>o</a></FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>"
    )
    response = Client(raise_request_exception=False).post(
        "/hooks/wechat/wxfuzz0000000001?" + _signed_query(), body, content_type="text/xml"
    )
    assert response.status_code == 400


def test_wechat_hook_answers_a_signed_garbage_body_with_400(plaintext_account):
    from django.test import Client

    from crm.models import RawDelivery

    response = Client().post(
        "/hooks/wechat/wxfuzz0000000001?" + _signed_query(),
        b"<!DOCTYPE xml [<!ENTITY a 'b'>]><xml>&a;</xml>",
        content_type="text/xml",
    )
    assert response.status_code == 400
    assert response.content.decode().startswith("bad request: ")
    assert list(RawDelivery.objects.values_list("status", flat=True)) == ["rejected"]
