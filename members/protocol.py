"""WeChat Pay wire formats: v2 XML signing, v3 RSA signatures and AES-256-GCM resources.

Pure functions, no Django: the hooks, the client and the sandbox all use them, and the tests
check them against the published vectors (reference section 8.4).
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.padding import PKCS7
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

BEIJING = ZoneInfo("Asia/Shanghai")
MD5 = "MD5"
HMAC_SHA256 = "HMAC-SHA256"
MAX_BODY = 64 * 1024  # legitimate notifications are a few KB


class ProtocolError(ValueError):
    """A message that cannot be understood (malformed XML/JSON, undecryptable resource)."""


def v2_string_to_sign(params: dict[str, str], key: str) -> str:
    """stringSignTemp: non-empty params except `sign`, sorted by name, then `&key=<API key>`."""
    items = sorted((k, str(v)) for k, v in params.items() if k != "sign" and v not in (None, ""))
    return "&".join(f"{k}={v}" for k, v in items) + "&key=" + key


def v2_sign(params: dict[str, str], key: str, sign_type: str = MD5) -> str:
    message = v2_string_to_sign(params, key).encode()
    if sign_type == HMAC_SHA256:
        return hmac.new(key.encode(), message, hashlib.sha256).hexdigest().upper()
    if sign_type == MD5:
        return hashlib.md5(message).hexdigest().upper()  # noqa: S324  the protocol's choice
    raise ProtocolError(f"unknown sign_type {sign_type!r}")


def v2_verify(params: dict[str, str], key: str, sign_type: str = MD5) -> bool:
    """Check `sign` with the merchant's own sign type.

    Notifications may omit `sign_type` even when signed with HMAC-SHA256 (reference 8.2), so the
    merchant's configured type decides; a notification naming another type is refused, or a
    merchant set to HMAC-SHA256 would accept MD5 signatures.
    """
    given = params.get("sign", "")
    if not given or not key or params.get("sign_type", sign_type) != sign_type:
        return False
    try:
        expected = v2_sign(params, key, sign_type)
    except ProtocolError:
        return False
    # Bytes: compare_digest refuses a str with non-ASCII characters.
    return hmac.compare_digest(expected.encode(), given.upper().encode("utf-8", "replace"))


def v2_signed_content(params: dict[str, str]) -> bytes:
    """What a v2 signature covers (the non-empty fields but `sign`, sorted), without the key:
    one notification's identity whatever XML layout carries it (the replay cache's key)."""
    return v2_string_to_sign(params, "").encode()


OWNER_MISMATCH = "the notification's mchid or appid is not this merchant's"


def check_owner(
    fields: object, mchid: str, appid: str, *, mchid_field: str = "mchid", appid_required: bool
) -> None:
    """Raise ProtocolError unless a notification names this merchant: its `mchid_field` is
    `mchid`, and its `appid` is `appid` (required when `appid_required`, else only if present).

    Signatures and keys prove who sent a notification, not which merchant it is for: a shared
    platform key or API key must not let one merchant's notification act on another's orders.
    """
    if not isinstance(fields, dict) or fields.get(mchid_field) != mchid:
        raise ProtocolError(OWNER_MISMATCH)
    named_appid = fields.get("appid")
    if named_appid != appid and (named_appid is not None or appid_required):
        raise ProtocolError(OWNER_MISMATCH)


def check_v3_owner(envelope: dict, resource: object, mchid: str, appid: str) -> None:
    """check_owner for a v3 notification's decrypted resource: the appid is required for a
    payment (`TRANSACTION.*`); refund resources carry none."""
    payment = str(envelope.get("event_type", "")).startswith("TRANSACTION.")
    check_owner(resource, mchid, appid, appid_required=payment)


def parse_xml(body: bytes, root_tag: str = "xml") -> dict[str, str]:
    """A flat `<xml>` document as a dict. DTDs and entities are refused (XXE, reference 9)."""
    if len(body) > MAX_BODY:
        raise ProtocolError("body too large")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise ProtocolError(f"malformed XML: {exc}") from exc
    if root.tag != root_tag:
        raise ProtocolError(f"the root element is not <{root_tag}>")
    return {child.tag: (child.text or "") for child in root}


def build_xml(params: dict[str, object]) -> str:
    """A flat `<xml>` document; every value in CDATA (`]]>` split so it cannot close early)."""
    parts = ["<xml>"]
    for key, value in params.items():
        if not isinstance(key, str) or not key.replace("_", "").isalnum():
            raise ProtocolError(f"bad XML field name {key!r}")
        text = str(value).replace("]]>", "]]]]><![CDATA[>")
        parts.append(f"<{key}><![CDATA[{text}]]></{key}>")
    parts.append("</xml>")
    return "".join(parts)


def v2_reply(ok: bool, message: str = "OK") -> str:
    return build_xml({"return_code": "SUCCESS" if ok else "FAIL", "return_msg": message})


def nonce_str(length: int = 32) -> str:
    return secrets.token_hex(length // 2)


def _beijing_time(value: str, fmt: str, name: str) -> datetime:
    """A WeChat Pay time (Beijing time, no zone) as an aware UTC datetime."""
    try:
        local = datetime.strptime(value, fmt).replace(tzinfo=BEIJING)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"bad {name} {value!r}") from exc
    return local.astimezone(UTC)


def parse_time_end(value: str) -> datetime:
    """`time_end` (yyyyMMddHHmmss, Beijing time) as an aware UTC datetime."""
    return _beijing_time(value, "%Y%m%d%H%M%S", "time_end")


def format_time_end(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def _refund_cipher(api_key: str) -> Cipher:
    # The key is the lowercase hex MD5 of the API key, used as 32 ASCII bytes (reference 8.4 P4).
    key = hashlib.md5(api_key.encode("utf-8"), usedforsecurity=False).hexdigest().lower()
    return Cipher(algorithms.AES(key.encode("ascii")), modes.ECB())  # noqa: S305  the protocol's


def v2_refund_decrypt(api_key: str, req_info: str) -> dict[str, str]:
    """The fields of a v2 refund notification's `req_info` (AES-256-ECB, PKCS#7, Base64).

    Refund notifications carry no `sign`: only the merchant's API key decrypts them, which is
    what makes one genuine. Raises ProtocolError if it does not decrypt or parse.
    """
    try:
        raw = base64.b64decode(req_info, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("req_info is not Base64") from exc
    if not raw or len(raw) % 16:
        raise ProtocolError("req_info is not a whole number of AES blocks")
    decryptor = _refund_cipher(api_key).decryptor()
    unpadder = PKCS7(128).unpadder()
    try:
        plain = unpadder.update(decryptor.update(raw) + decryptor.finalize()) + unpadder.finalize()
    except ValueError as exc:
        raise ProtocolError("req_info does not decrypt with this API key") from exc
    return parse_xml(plain, root_tag="root")


def v2_refund_encrypt(api_key: str, fields: dict[str, object]) -> str:
    """`req_info` for these fields, as WeChat Pay builds it (the sandbox and tests use it)."""
    document = build_xml(fields).replace("<xml>", "<root>").replace("</xml>", "</root>")
    padder = PKCS7(128).padder()
    padded = padder.update(document.encode("utf-8")) + padder.finalize()
    encryptor = _refund_cipher(api_key).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def parse_refund_time(value: str) -> datetime:
    """`success_time` of a refund (yyyy-MM-dd HH:mm:ss, Beijing time) as an aware UTC datetime."""
    return _beijing_time(value, "%Y-%m-%d %H:%M:%S", "success_time")


# --- API v3 -------------------------------------------------------------------------------


def v3_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """What the platform signs: three lines, each ending in \\n, the body as raw bytes."""
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


@lru_cache(maxsize=16)
def load_public_key(pem: str):
    """A PEM public key or X.509 certificate (the platform's), as a public key object
    (parsed once per process: every v3 notification is checked with it)."""
    data = pem.strip().encode()
    try:
        if b"CERTIFICATE" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        return serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ProtocolError(f"bad platform public key: {exc}") from exc


def v3_verify(public_pem: str, timestamp: str, nonce: str, body: bytes, signature: str) -> bool:
    """RSA PKCS#1 v1.5 SHA-256 over v3_message with the platform key."""
    try:
        key = load_public_key(public_pem)
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, v3_message(timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError, ProtocolError):
        return False
    return True


def v3_sign(private_key: rsa.RSAPrivateKey, timestamp: str, nonce: str, body: bytes) -> str:
    signature = private_key.sign(
        v3_message(timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256()
    )
    return base64.b64encode(signature).decode()


def _key_bytes(key: str | bytes) -> bytes:
    data = key.encode() if isinstance(key, str) else key
    if len(data) != 32:
        raise ProtocolError("the APIv3 key must be 32 bytes")
    return data


def aes_gcm_decrypt(
    key: str | bytes, nonce: str | bytes, associated_data: str | bytes, ciphertext_b64: str
) -> bytes:
    """Decrypt a v3 `resource` (AEAD_AES_256_GCM; the last 16 bytes of the ciphertext are the tag)."""
    nonce_b = nonce.encode() if isinstance(nonce, str) else nonce
    aad = associated_data.encode() if isinstance(associated_data, str) else associated_data
    try:
        data = base64.b64decode(ciphertext_b64, validate=True)
        return AESGCM(_key_bytes(key)).decrypt(nonce_b, data, aad or None)
    except (InvalidTag, ValueError, TypeError) as exc:
        raise ProtocolError("the resource cannot be decrypted with the APIv3 key") from exc


def v3_resource(apiv3_key: str | bytes, envelope: dict) -> Any:
    """The decrypted `resource` of a v3 notification envelope, parsed as JSON. A malformed
    envelope raises KeyError, TypeError, AttributeError or ValueError; a forged one fails to
    decrypt (ProtocolError)."""
    resource = envelope["resource"]
    plain = aes_gcm_decrypt(
        apiv3_key,
        resource.get("nonce", ""),
        resource.get("associated_data", ""),
        resource.get("ciphertext", ""),
    )
    return json.loads(plain)


def aes_gcm_encrypt(key: str | bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    data = AESGCM(_key_bytes(key)).encrypt(
        nonce.encode(), plaintext, associated_data.encode() or None
    )
    return base64.b64encode(data).decode()
