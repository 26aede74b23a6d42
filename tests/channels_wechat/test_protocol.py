"""protocol.py against the published vectors (shared/reference/wechat-protocol.md) and bad input."""

import pytest

from channels_wechat import protocol
from channels_wechat.protocol import ProtocolError

C1_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
C1_APPID = "wx2c2769f8efd9abc2"
C1_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHF"
    "VAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVti"
    "cbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpA"
    "e+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCum"
    "EPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
C1_PLAIN = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    "<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"
)


@pytest.mark.parametrize(
    "token,timestamp,nonce,expected",
    [
        ("AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
        ("AAAAA", "1715943329", "1590219412", "cc0c594499c1634947d5b502f158ee518947db27"),
        ("spamtest", "1409735669", "1320562132", "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"),
        ("789", "456", "123", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
        ("pamtest", "1409304348", "xxxxxx", "76480565cbe296026c53aaacd1ad523a1ddba24f"),
    ],
)
def test_url_verification_signature_vectors(token, timestamp, nonce, expected):
    assert protocol.sha1_signature(token, timestamp, nonce) == expected
    assert protocol.check_signature(token, expected, timestamp, nonce) is True


def test_tampered_signature_is_refused():
    good = "f464b24fc39322e44b38aa78f5edd27bd1441696"
    assert protocol.check_signature("AAAAA", good[:-1] + "0", "1714036504", "1514711492") is False
    assert protocol.check_signature("AAAAB", good, "1714036504", "1514711492") is False
    assert protocol.check_signature("AAAAA", "", "1714036504", "1514711492") is False


def test_c1_msg_signature_and_decryption():
    sig = protocol.msg_signature("spamtest", "1409735669", "1320562132", C1_ENCRYPT)
    assert sig == "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
    assert protocol.decrypt(C1_KEY, C1_ENCRYPT, C1_APPID) == C1_PLAIN
    assert protocol.aes_key(C1_KEY).hex() == (
        "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
    )


def test_encrypt_round_trip_with_chinese_and_32_byte_padding():
    xml = "<xml><Content><![CDATA[你好，订单什么时候到？]]></Content></xml>"
    for extra in range(0, 40):  # every pad length 1..32 is exercised
        text = xml + " " * extra
        cipher = protocol.encrypt(C1_KEY, text, C1_APPID)
        assert protocol.decrypt(C1_KEY, cipher, C1_APPID) == text


def test_c1_reencrypted_with_the_sample_random_gives_the_vector():
    assert protocol.encrypt(C1_KEY, C1_PLAIN, C1_APPID, b"89465c840c5f116f") == C1_ENCRYPT


def test_wrong_appid_is_refused():
    with pytest.raises(ProtocolError) as exc:
        protocol.decrypt(C1_KEY, C1_ENCRYPT, "wx0000000000000000")
    assert (exc.value.reason, str(exc.value)) == (
        "appid",
        "the message was encrypted for another appid",
    )


@pytest.mark.parametrize(
    "key", ["abcde", "", "a" * 44, "abcdefghijklmnopqrstuvwxyz0123456789ABCDE-!"]
)
def test_bad_key_length_or_alphabet_is_refused(key):
    with pytest.raises(ValueError) as exc:
        protocol.aes_key(key)
    assert str(exc.value) == "EncodingAESKey must be 43 letters and digits"


def test_corrupted_ciphertext_is_refused():
    tampered = "A" + C1_ENCRYPT[1:]
    with pytest.raises(ProtocolError) as exc:
        protocol.decrypt(C1_KEY, tampered, C1_APPID)
    assert exc.value.reason in ("decrypt", "appid")
    with pytest.raises(ProtocolError) as exc:
        protocol.decrypt(C1_KEY, "not base64!", C1_APPID)
    assert str(exc.value) == "Encrypt is not valid Base64"


@pytest.mark.parametrize(
    "payload",
    [
        b'<!DOCTYPE xml [<!ENTITY x "boom">]><xml><Content>&x;</Content></xml>',
        b'<!DOCTYPE xml SYSTEM "http://example.com/x.dtd"><xml></xml>',
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY l2 "&lol;&lol;">]>'
        b"<xml><a>&l2;</a></xml>",
    ],
)
def test_dtd_and_entities_are_refused(payload):
    with pytest.raises(ProtocolError) as exc:
        protocol.parse_xml(payload)
    assert (exc.value.reason, str(exc.value)) == ("xml", "XML with a DTD or entities is refused")


def test_malformed_xml_and_wrong_root_are_refused():
    with pytest.raises(ProtocolError) as exc:
        protocol.parse_xml(b"<xml><Content>")
    assert exc.value.reason == "xml" and str(exc.value).startswith("malformed XML: ")
    with pytest.raises(ProtocolError) as exc:
        protocol.parse_xml(b"<root/>")
    assert str(exc.value) == "root element is <root>, expected <xml>"


def test_parse_text_keeps_64_bit_msgid_as_text():
    message = protocol.parse_message(protocol.parse_xml(C1_PLAIN))
    assert {
        k: message[k] for k in ("to", "openid", "create_time", "msg_type", "msg_id", "content")
    } == {
        "to": "gh_10f6c3c3ac5a",
        "openid": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "create_time": 1409735668,
        "msg_type": "text",
        "msg_id": "6054768590064713728",
        "content": "abcdteT",
    }
    assert protocol.event_key(message) == "6054768590064713728"


def _xml(body: str) -> dict:
    return protocol.parse_xml(
        "<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[fromUser]]>"
        f"</FromUserName><CreateTime>1348831860</CreateTime>{body}</xml>"
    )


@pytest.mark.parametrize(
    "body,msg_type,content,media_id,data",
    [
        (
            "<MsgType>image</MsgType><PicUrl>http://p</PicUrl><MediaId>m1</MediaId><MsgId>1</MsgId>",
            "image",
            "[图片]",
            "m1",
            {"pic_url": "http://p"},
        ),
        (
            "<MsgType>voice</MsgType><MediaId>m2</MediaId><Format>amr</Format>"
            "<Recognition>腾讯微信团队</Recognition><MsgId>2</MsgId>",
            "voice",
            "腾讯微信团队",
            "m2",
            {"format": "amr", "recognition": "腾讯微信团队"},
        ),
        (
            "<MsgType>video</MsgType><MediaId>m3</MediaId><ThumbMediaId>t3</ThumbMediaId><MsgId>3</MsgId>",
            "video",
            "[视频]",
            "m3",
            {"thumb_media_id": "t3"},
        ),
        (
            "<MsgType>shortvideo</MsgType><MediaId>m4</MediaId><ThumbMediaId>t4</ThumbMediaId>"
            "<MsgId>4</MsgId>",
            "shortvideo",
            "[小视频]",
            "m4",
            {"thumb_media_id": "t4"},
        ),
        (
            "<MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803"
            "</Location_Y><Scale>20</Scale><Label>位置信息</Label><MsgId>5</MsgId>",
            "location",
            "[位置] 位置信息",
            "",
            {
                "latitude": "23.134521",
                "longitude": "113.358803",
                "scale": "20",
                "label": "位置信息",
            },
        ),
        (
            "<MsgType>link</MsgType><Title>公众平台官网链接</Title><Description>d</Description>"
            "<Url>url</Url><MsgId>6</MsgId>",
            "link",
            "[链接] 公众平台官网链接 url",
            "",
            {"title": "公众平台官网链接", "description": "d", "url": "url"},
        ),
    ],
)
def test_parse_every_message_type(body, msg_type, content, media_id, data):
    message = protocol.parse_message(_xml(body))
    assert (message["msg_type"], message["content"], message["media_id"], message["data"]) == (
        msg_type,
        content,
        media_id,
        data,
    )
    assert message["known"] is True


@pytest.mark.parametrize(
    "body,event,data",
    [
        ("<Event>subscribe</Event>", "subscribe", {"event_key": "", "ticket": ""}),
        (
            "<Event>subscribe</Event><EventKey>qrscene_123123</EventKey><Ticket>TICKET</Ticket>",
            "subscribe",
            {"event_key": "qrscene_123123", "qr_scene": "123123", "ticket": "TICKET"},
        ),
        ("<Event>unsubscribe</Event>", "unsubscribe", {"event_key": ""}),
        (
            "<Event>SCAN</Event><EventKey>SCENE_VALUE</EventKey><Ticket>TICKET</Ticket>",
            "SCAN",
            {"event_key": "SCENE_VALUE", "qr_scene": "SCENE_VALUE", "ticket": "TICKET"},
        ),
        (
            "<Event>LOCATION</Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude>"
            "<Precision>119.385040</Precision>",
            "LOCATION",
            {
                "event_key": "",
                "latitude": "23.137466",
                "longitude": "113.352425",
                "precision": "119.385040",
            },
        ),
        ("<Event>CLICK</Event><EventKey>EVENTKEY</EventKey>", "CLICK", {"event_key": "EVENTKEY"}),
        (
            "<Event>VIEW</Event><EventKey>www.qq.com</EventKey><MenuId>MENUID</MenuId>",
            "VIEW",
            {"event_key": "www.qq.com", "menu_id": "MENUID"},
        ),
        (
            "<Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status>success</Status>",
            "TEMPLATESENDJOBFINISH",
            {"event_key": "", "job_id": "200163836", "status": "success"},
        ),
    ],
)
def test_parse_every_event(body, event, data):
    message = protocol.parse_message(_xml("<MsgType>event</MsgType>" + body))
    assert (message["event"], message["data"], message["msg_id"], message["known"]) == (
        event,
        data,
        "",
        True,
    )
    assert protocol.event_key(message) == f"ev:fromUser:1348831860:{event}"


def test_unknown_type_and_event_are_kept():
    unknown = protocol.parse_message(_xml("<MsgType>miniprogrampage</MsgType><MsgId>9</MsgId>"))
    assert (unknown["known"], unknown["msg_type"], unknown["content"], unknown["msg_id"]) == (
        False,
        "miniprogrampage",
        "[miniprogrampage]",
        "9",
    )
    event = protocol.parse_message(_xml("<MsgType>event</MsgType><Event>kf_close_session</Event>"))
    assert (event["known"], event["event"]) == (False, "kf_close_session")


def test_push_without_sender_is_refused():
    with pytest.raises(ProtocolError) as exc:
        protocol.parse_message({"MsgType": "text"})
    assert str(exc.value) == "push has no FromUserName or MsgType"


def test_reply_xml_escapes_cdata_terminator_and_parses_back():
    xml = protocol.reply_xml("oUser", "gh_1", content="x]]>y 你好", create_time=12345678)
    assert "x]]]]><![CDATA[>y 你好" in xml
    assert protocol.parse_xml(xml) == {
        "ToUserName": "oUser",
        "FromUserName": "gh_1",
        "CreateTime": "12345678",
        "MsgType": "text",
        "Content": "x]]>y 你好",
    }


def test_news_and_image_replies():
    news = protocol.parse_xml(
        protocol.reply_xml("o", "gh", "news", articles=[{"title": "标题", "url": "u"}])
    )
    assert news["ArticleCount"] == "1"
    assert news["Articles"]["item"]["Title"] == "标题"
    image = protocol.parse_xml(protocol.reply_xml("o", "gh", "image", media_id="MID"))
    assert image["Image"] == {"MediaId": "MID"}


def test_encrypted_envelope_verifies_and_decrypts():
    envelope, sig = protocol.encrypted_envelope("tok", C1_KEY, C1_APPID, "<xml/>", "1", "n")
    fields = protocol.parse_xml(envelope)
    assert fields["MsgSignature"] == sig
    assert protocol.msg_signature("tok", "1", "n", fields["Encrypt"]) == sig
    assert protocol.decrypt(C1_KEY, fields["Encrypt"], C1_APPID) == "<xml/>"
