"""The WeChat Official Account push protocol: signatures, safe-mode crypto, message XML.

Pure functions, no Django: tested with the published vectors (shared/reference/wechat-protocol.md).

- `check_signature`: the URL-verification / push `signature` (SHA-1 of sorted token, timestamp,
  nonce).
- `msg_signature` / `decrypt` / `encrypt`: safe mode (安全模式). AES-256-CBC, IV = key[:16],
  PKCS#7 padding over 32-byte blocks, plaintext = random(16) + len(4, big-endian) + msg + appid.
- `parse_xml` / `parse_message`: defusedxml (DTDs and entities refused), every message type and
  event; unknown types are kept, not rejected.
- `decode_push`: a push body for an account, checked, decrypted if need be, and parsed
  (`open_push` the same, also saying whether the body's msg_signature was checked).
- `signed_identity`: what identifies a push to the replay check: what its signatures cover.
- `reply_xml` / `encrypted_reply`: passive replies, with `]]>` in user text split safely.
"""

import base64
import hashlib
import hmac
import os
import struct
import time
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

BLOCK = 32  # WeChat's PKCS#7 block size: not AES's 16
SAFE_MODE = "safe"  # OfficialAccount.Mode.SAFE: only encrypted pushes are accepted


class ProtocolError(ValueError):
    """A push that cannot be accepted; `reason` is a short machine-readable word."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class SignatureError(ProtocolError):
    def __init__(self, message: str = "signature does not match"):
        super().__init__("signature", message)


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1(  # noqa: S324  the protocol mandates SHA-1
        "".join(sorted(str(p) for p in parts)).encode("utf-8")
    ).hexdigest()


def check_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """The `signature` of URL verification and of every push (constant-time compare)."""
    if not (signature and timestamp and nonce):
        return False
    expected = sha1_signature(token, timestamp, nonce).encode()
    # Bytes: compare_digest refuses a str with non-ASCII characters (?signature=%C2%80).
    return hmac.compare_digest(expected, signature.lower().encode("utf-8", "replace"))


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Safe mode's signature over the ciphertext."""
    return sha1_signature(token, timestamp, nonce, encrypt)


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey; ValueError if malformed."""
    if not encoding_aes_key or len(encoding_aes_key) != 43 or not encoding_aes_key.isalnum():
        raise ValueError("EncodingAESKey must be 43 letters and digits")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("EncodingAESKey is not valid Base64") from exc
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


def _pad(data: bytes) -> bytes:
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def _unpad(data: bytes) -> bytes:
    if not data:
        raise ProtocolError("decrypt", "empty plaintext")
    n = data[-1]
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise ProtocolError("decrypt", "bad padding")
    return data[:-n]


def decrypt(encoding_aes_key: str, encrypt: str, appid: str) -> str:
    """The message XML inside a safe-mode `Encrypt` value; checks the trailing appid."""
    key = aes_key(encoding_aes_key)
    try:
        raw = base64.b64decode(encrypt, validate=True)
    except (ValueError, TypeError) as exc:
        raise ProtocolError("decrypt", "Encrypt is not valid Base64") from exc
    if not raw or len(raw) % 16:
        raise ProtocolError("decrypt", "ciphertext length is not a multiple of 16")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = _unpad(decryptor.update(raw) + decryptor.finalize())
    if len(plain) < 20:
        raise ProtocolError("decrypt", "plaintext too short")
    (length,) = struct.unpack(">I", plain[16:20])
    body, tail = plain[20 : 20 + length], plain[20 + length :]
    if len(body) != length:
        raise ProtocolError("decrypt", "message length exceeds the plaintext")
    if tail.decode("utf-8", "replace") != appid:
        raise ProtocolError("appid", "the message was encrypted for another appid")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("decrypt", "message is not UTF-8") from exc


def encrypt(encoding_aes_key: str, xml: str, appid: str, random16: bytes | None = None) -> str:
    """Base64 ciphertext of `xml` for `appid` (what WeChat puts in `Encrypt`)."""
    key = aes_key(encoding_aes_key)
    random16 = random16 if random16 is not None else base64.b16encode(os.urandom(8))
    body = xml.encode("utf-8")
    plain = _pad(random16 + struct.pack(">I", len(body)) + body + appid.encode("ascii"))
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """The children of a WeChat `<xml>` document as a dict (nested elements as dicts).

    Raises ProtocolError("xml") for malformed XML, a DTD or entities, or a root other than xml.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ProtocolError("xml", "XML with a DTD or entities is refused") from exc
    except (ParseError, ValueError) as exc:
        raise ProtocolError("xml", f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise ProtocolError("xml", f"root element is <{root.tag}>, expected <xml>")
    return _children(root)


def _children(element: Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in element:
        value: Any = _children(child) if len(child) else (child.text or "")
        if child.tag in out:  # repeated element (Articles/item): keep them all
            if not isinstance(out[child.tag], list):
                out[child.tag] = [out[child.tag]]
            out[child.tag].append(value)
        else:
            out[child.tag] = value
    return out


MESSAGE_TYPES = ("text", "image", "voice", "video", "shortvideo", "location", "link")
EVENTS = ("subscribe", "unsubscribe", "SCAN", "LOCATION", "CLICK", "VIEW", "TEMPLATESENDJOBFINISH")


# Fields read as text below; only WeChat's own nested ones (ScanCodeInfo...) may be elements.
TEXT_FIELDS = (
    "ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "MsgID", "Content",
    "MediaId", "PicUrl", "Format", "Recognition", "ThumbMediaId", "Location_X", "Location_Y",
    "Scale", "Label", "Title", "Description", "Url", "Event", "EventKey", "Ticket", "Latitude",
    "Longitude", "Precision", "MenuId", "Status",
)  # fmt: skip


def parse_message(fields: dict[str, Any]) -> dict[str, Any]:
    """Normalise a decrypted push into one dict.

    Keys: `to`, `openid`, `create_time` (int seconds), `msg_type`, `msg_id` (str, messages only),
    `event` (events only, as sent), `content` (text shown in the inbox), `media_id`, `data` (the
    type's own fields) and `fields` (everything as received). Unknown message types and events
    are kept with `known=False`. Raises ProtocolError for a push without sender or type.
    """
    for name in TEXT_FIELDS:
        if not isinstance(fields.get(name, ""), str):
            raise ProtocolError("xml", f"{name} must be text, not nested elements")
    openid = (fields.get("FromUserName") or "").strip()
    msg_type = (fields.get("MsgType") or "").strip()
    if not openid or not msg_type:
        raise ProtocolError("xml", "push has no FromUserName or MsgType")
    try:
        create_time = int(fields.get("CreateTime") or 0)
    except ValueError as exc:
        raise ProtocolError("xml", "CreateTime is not a number") from exc
    message: dict[str, Any] = {
        "to": fields.get("ToUserName", ""),
        "openid": openid,
        "create_time": create_time,
        "msg_type": msg_type,
        "msg_id": str(fields.get("MsgId") or ""),
        "event": "",
        "content": "",
        "media_id": "",
        "data": {},
        "known": True,
        "fields": fields,
    }
    data = message["data"]
    if msg_type == "text":
        message["content"] = fields.get("Content", "")
    elif msg_type == "image":
        message["media_id"] = fields.get("MediaId", "")
        data["pic_url"] = fields.get("PicUrl", "")
        message["content"] = "[图片]"
    elif msg_type == "voice":
        message["media_id"] = fields.get("MediaId", "")
        data["format"] = fields.get("Format", "")
        data["recognition"] = fields.get("Recognition", "")
        message["content"] = data["recognition"] or "[语音]"
    elif msg_type in ("video", "shortvideo"):
        message["media_id"] = fields.get("MediaId", "")
        data["thumb_media_id"] = fields.get("ThumbMediaId", "")
        message["content"] = "[视频]" if msg_type == "video" else "[小视频]"
    elif msg_type == "location":
        data.update(
            latitude=fields.get("Location_X", ""),
            longitude=fields.get("Location_Y", ""),
            scale=fields.get("Scale", ""),
            label=fields.get("Label", ""),
        )
        message["content"] = f"[位置] {data['label']}".strip()
    elif msg_type == "link":
        data.update(
            title=fields.get("Title", ""),
            description=fields.get("Description", ""),
            url=fields.get("Url", ""),
        )
        message["content"] = f"[链接] {data['title']} {data['url']}".strip()
    elif msg_type == "event":
        event = (fields.get("Event") or "").strip()
        message["event"] = event
        key = fields.get("EventKey") or ""
        data["event_key"] = key
        if event == "subscribe":
            if key.startswith("qrscene_"):
                data["qr_scene"] = key[len("qrscene_") :]
            data["ticket"] = fields.get("Ticket", "")
        elif event == "SCAN":
            data["qr_scene"] = key
            data["ticket"] = fields.get("Ticket", "")
        elif event == "LOCATION":
            data.update(
                latitude=fields.get("Latitude", ""),
                longitude=fields.get("Longitude", ""),
                precision=fields.get("Precision", ""),
            )
        elif event == "VIEW":
            data["menu_id"] = fields.get("MenuId", "")
        elif event == "TEMPLATESENDJOBFINISH":
            data.update(job_id=str(fields.get("MsgID", "")), status=fields.get("Status", ""))
        message["known"] = event in EVENTS
        message["content"] = f"[{event}] {key}".strip()
    else:
        message["known"] = False
        message["content"] = f"[{msg_type}]"
    return message


def event_key(message: dict[str, Any]) -> str:
    """The dedupe key of a push: MsgId for messages, FromUserName+CreateTime+Event for events."""
    if message["msg_id"]:
        return message["msg_id"]
    raw = f"ev:{message['openid']}:{message['create_time']}:{message['event']}"
    if len(raw) <= 64:
        return raw
    return "ev:" + hashlib.sha1(raw.encode("utf-8"), usedforsecurity=False).hexdigest()


def decode_push(account, body: bytes, query: dict[str, str]) -> dict[str, Any]:
    """The parsed message of a push body (decrypting safe/compatible-mode envelopes).

    `account`: the official account pushed to (an OfficialAccount: its `token`,
    `encoding_aes_key`, `appid` and `mode`); `query`: the push URL's parameters.
    Raises ProtocolError (or SignatureError) for anything that cannot be accepted.
    """
    return parse_message(open_push(account, body, query)[0])


def open_push(account, body: bytes, query: dict[str, str]) -> tuple[dict[str, Any], bool]:
    """The message fields of a push body (decrypted from a safe/compatible-mode envelope), and
    whether it was one (its `msg_signature` checked); raises like `decode_push`."""
    fields = parse_xml(body)
    if "Encrypt" in fields and (query.get("encrypt_type") == "aes" or not fields.get("MsgType")):
        expected = msg_signature(
            account.token, query.get("timestamp", ""), query.get("nonce", ""), fields["Encrypt"]
        )
        given = (query.get("msg_signature") or "").lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise SignatureError("msg_signature does not match")
        try:
            plain = decrypt(account.encoding_aes_key, fields["Encrypt"], account.appid)
        except ValueError as exc:  # a bad stored key also lands here
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError("decrypt", str(exc)) from exc
        return parse_xml(plain), True
    if account.mode == SAFE_MODE:
        raise ProtocolError("xml", "this account is in safe mode: the push is not encrypted")
    return fields, False


def signed_identity(query: dict[str, str], encrypted: bool) -> bytes:
    """What a checked push's signatures cover, as the replay check's identity of it: timestamp
    and nonce (under `signature`), and for an encrypted push the ciphertext too (under
    `msg_signature`). A plaintext push's body is not signed: a captured query sent again with
    another body is the same push. Signatures are given in lower case, the way they are checked,
    so a replay cannot pass for a new push by changing their case."""
    parts = [query.get("signature", "").lower(), query.get("timestamp", ""), query.get("nonce", "")]
    if encrypted:
        parts.append(query.get("msg_signature", "").lower())
    return "\n".join(parts).encode()


def cdata(text: str) -> str:
    """Text inside CDATA; `]]>` is split across two sections so it cannot close the first."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def reply_xml(to_user: str, from_user: str, msg_type: str = "text", **content: Any) -> str:
    """A passive reply: `content=` for text, `media_id=` for image, `articles=[{...}]` for news."""
    parts = [
        f"<ToUserName>{cdata(to_user)}</ToUserName>",
        f"<FromUserName>{cdata(from_user)}</FromUserName>",
        f"<CreateTime>{int(content.pop('create_time', time.time()))}</CreateTime>",
        f"<MsgType>{cdata(msg_type)}</MsgType>",
    ]
    if msg_type == "text":
        parts.append(f"<Content>{cdata(content['content'])}</Content>")
    elif msg_type == "image":
        parts.append(f"<Image><MediaId>{cdata(content['media_id'])}</MediaId></Image>")
    elif msg_type == "news":
        items = "".join(
            "<item>"
            f"<Title>{cdata(a.get('title', ''))}</Title>"
            f"<Description>{cdata(a.get('description', ''))}</Description>"
            f"<PicUrl>{cdata(a.get('picurl', ''))}</PicUrl>"
            f"<Url>{cdata(a.get('url', ''))}</Url>"
            "</item>"
            for a in content["articles"]
        )
        parts.append(f"<ArticleCount>{len(content['articles'])}</ArticleCount>")
        parts.append(f"<Articles>{items}</Articles>")
    return "<xml>" + "".join(parts) + "</xml>"


def encrypted_envelope(
    token: str, encoding_aes_key: str, appid: str, xml: str, timestamp: str, nonce: str
) -> tuple[str, str]:
    """(envelope XML, msg_signature) for a reply or a push in safe mode."""
    ciphertext = encrypt(encoding_aes_key, xml, appid)
    signature = msg_signature(token, timestamp, nonce, ciphertext)
    envelope = (
        f"<xml><Encrypt>{cdata(ciphertext)}</Encrypt>"
        f"<MsgSignature>{cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>"
    )
    return envelope, signature
