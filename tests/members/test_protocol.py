"""WeChat Pay wire formats against the published vectors (reference section 8.4)."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from devtools.sandboxes.wechatpay import public_pem
from members import protocol

P1 = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}
P1_KEY = "192006250b4c09247ec02edce69f6a2d"


def test_v2_string_to_sign_matches_published_example():
    assert protocol.v2_string_to_sign(P1, P1_KEY) == (
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100"
        "&nonce_str=ibuaiVcKdpRxkhJA&key=192006250b4c09247ec02edce69f6a2d"
    )


def test_v2_md5_sign_matches_published_vector():
    assert protocol.v2_sign(P1, P1_KEY, "MD5") == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_v2_hmac_sha256_sign_matches_published_vector():
    assert (
        protocol.v2_sign(P1, P1_KEY, "HMAC-SHA256")
        == "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    )


def test_v2_verify_accepts_both_sign_types_and_ignores_empty_fields():
    md5 = {**P1, "attach": "", "sign": "9A0A8659F005D6984697E2CA0A9CF3B7"}
    assert protocol.v2_verify(md5, P1_KEY, "MD5") is True
    hmac_params = {**P1, "sign": "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"}
    # No sign_type in the notification: the merchant's configured type decides.
    assert protocol.v2_verify(hmac_params, P1_KEY, "HMAC-SHA256") is True
    assert protocol.v2_verify(hmac_params, P1_KEY, "MD5") is False
    assert protocol.v2_verify({**md5, "body": "tampered"}, P1_KEY, "MD5") is False
    assert protocol.v2_verify({**P1}, P1_KEY, "MD5") is False


# AES-256-GCM, 96-bit IV, with AAD: McGrew & Viega, "The Galois/Counter Mode of Operation",
# test case 16 (the NIST GCM specification's published vector).
GCM_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
GCM_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_PLAIN = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
GCM_CIPHER_AND_TAG = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
    "76fc6ece0f4e1768cddf8853bb2d551b"
)


def test_aes_gcm_decrypt_matches_published_gcm_vector():
    ciphertext = base64.b64encode(GCM_CIPHER_AND_TAG).decode()
    assert protocol.aes_gcm_decrypt(GCM_KEY, GCM_IV, GCM_AAD, ciphertext) == GCM_PLAIN


def test_aes_gcm_decrypt_refuses_a_flipped_tag_bit():
    broken = bytearray(GCM_CIPHER_AND_TAG)
    broken[-1] ^= 1
    with pytest.raises(protocol.ProtocolError, match="cannot be decrypted"):
        protocol.aes_gcm_decrypt(GCM_KEY, GCM_IV, GCM_AAD, base64.b64encode(bytes(broken)).decode())


def test_aes_gcm_round_trip_with_a_wechat_style_ascii_key_and_nonce():
    key = "0123456789abcdef0123456789ABCDEF"
    data = protocol.aes_gcm_encrypt(key, "a1b2c3d4e5f6", "transaction", "支付成功".encode())
    assert protocol.aes_gcm_decrypt(key, "a1b2c3d4e5f6", "transaction", data).decode() == "支付成功"
    with pytest.raises(protocol.ProtocolError):
        protocol.aes_gcm_decrypt(key, "a1b2c3d4e5f6", "certificate", data)


def test_v3_signature_is_over_three_lines_of_raw_body():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = '{"id":"EV-1","summary":"支付成功"}'.encode()
    assert protocol.v3_message("1700000000", "abc", body) == b"1700000000\nabc\n" + body + b"\n"
    signature = protocol.v3_sign(key, "1700000000", "abc", body)
    pem = public_pem(key)
    assert protocol.v3_verify(pem, "1700000000", "abc", body, signature) is True
    assert protocol.v3_verify(pem, "1700000001", "abc", body, signature) is False
    assert protocol.v3_verify(pem, "1700000000", "abc", body + b" ", signature) is False
    other = public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert protocol.v3_verify(other, "1700000000", "abc", body, signature) is False
    assert protocol.v3_verify(pem, "1700000000", "abc", body, "not base64!") is False


def test_parse_xml_refuses_doctype_and_entities():
    evil = b'<!DOCTYPE x [<!ENTITY e "boom">]><xml><a>&e;</a></xml>'
    with pytest.raises(protocol.ProtocolError, match="malformed XML"):
        protocol.parse_xml(evil)


def test_build_xml_cannot_be_closed_early_by_a_value():
    text = protocol.build_xml({"attach": "x]]><evil/>"})
    assert protocol.parse_xml(text.encode()) == {"attach": "x]]><evil/>"}


def test_time_end_is_beijing_time():
    moment = protocol.parse_time_end("20140903131540")
    assert moment.isoformat() == "2014-09-03T05:15:40+00:00"
