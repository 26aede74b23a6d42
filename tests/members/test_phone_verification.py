"""Verified phone on the member join page (issue #16 item 3): SMS codes through Tencent Cloud SMS
(the sandbox over loopback, TC3-HMAC-SHA256 checked by it), the limits, the lock, and a verified
phone as a strong key that merges customers."""

import hashlib
import hmac
import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from crm.identity import resolve_customer
from crm.models import Customer, CustomerKey, MergeRecord
from members import sms
from members.actions import join_membership
from members.actions.phone_verification import PhoneCodeError, code_hash, verify_phone_code
from members.models import Membership, PhoneVerification
from members.views import SESSION_KEY

PHONE = "13800138000"
JSON = {"HTTP_ACCEPT": "application/json"}
WRONG = "The code is wrong. %s tries left."
LOCKED = "Too many wrong codes for this number. Please try again in 30 minutes."


def _signed_in(client, customer):
    session = client.session
    session[SESSION_KEY] = customer.pk
    session.save()
    return client


def _ask(client, phone=PHONE, **extra):
    return client.post("/m/join/code", {"phone": phone}, **{**JSON, **extra})


def _sent(box, phone=PHONE):
    with urllib.request.urlopen(f"{box.base_url}/sandbox/sms/{phone}") as resp:  # noqa: S310
        return json.loads(resp.read())["code"]


def _join(client, code, phone=PHONE):
    return client.post("/m/join", {"phone": phone, "code": code, "consent": "on"})


def _nothing_joined(customer):
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_verified, customer.consent_privacy_at) == (
        "",
        False,
        None,
    )
    assert Membership.objects.count() == 0
    assert CustomerKey.objects.filter(kind="phone").count() == 0


# -- the signature ------------------------------------------------------------------------------


def test_signer_reproduces_tencents_published_example():
    """Tencent's "signature v3" page: CVM DescribeInstances at 1551113065 with its example keys."""
    payload = (
        b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    )
    assert sms.tc3_authorization(
        secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        host="cvm.tencentcloudapi.com",
        timestamp=1551113065,
        payload=payload,
    ) == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    )


def test_signer_follows_the_documented_steps_for_sendsms():
    payload = b'{"PhoneNumberSet": ["+8613800138000"], "TemplateParamSet": ["123456"]}'
    timestamp = 1796611200  # 2026-12-07 00:00:00 UTC: the date in the scope is the UTC date
    canonical = (
        "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:sms.tencentcloudapi.com\n\n"
        "content-type;host\n" + hashlib.sha256(payload).hexdigest()
    )
    to_sign = "TC3-HMAC-SHA256\n1796611200\n2026-12-07/sms/tc3_request\n" + (
        hashlib.sha256(canonical.encode()).hexdigest()
    )

    def mac(key, text):
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(b"TC3secret", "2026-12-07"), "sms"), "tc3_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert datetime.fromtimestamp(timestamp, UTC).date().isoformat() == "2026-12-07"
    assert sms.tc3_authorization(
        secret_id="AKIDx",
        secret_key="secret",
        service="sms",
        host="sms.tencentcloudapi.com",
        timestamp=timestamp,
        payload=payload,
    ) == (
        "TC3-HMAC-SHA256 Credential=AKIDx/2026-12-07/sms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={expected}"
    )


# -- sending --------------------------------------------------------------------------------------


def test_a_code_is_sent_through_tencent_sms_and_stored_only_as_a_hash(
    client, customer, sms_sandbox
):
    response = _ask(_signed_in(client, customer), "+86 138 0013 8000")
    assert (response.status_code, response.json()) == (
        200,
        {"sent": True, "expires_in": 300, "resend_in": 60},
    )
    code = _sent(sms_sandbox)
    assert len(code) == 6 and code.isdigit()
    row = PhoneVerification.objects.get()
    assert (row.phone, row.customer, row.client_ip, row.attempts, row.verified_at) == (
        PHONE,
        customer,
        "127.0.0.1",
        0,
        None,
    )
    assert row.expires_at - row.created_at == timedelta(minutes=5)
    assert row.code_hash == code_hash(PHONE, code) != code
    assert code not in json.dumps(list(PhoneVerification.objects.values()), default=str)


def test_without_javascript_the_code_button_shows_the_join_page_again(
    client, customer, sms_sandbox
):
    response = _signed_in(client, customer).post("/m/join/code", {"phone": PHONE})
    assert response.status_code == 200
    assert response.context["notice"] == "A verification code was sent to your phone."
    assert response.context["phone"] == PHONE
    assert PhoneVerification.objects.count() == 1


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("12345", "Enter a valid mobile number, such as 13800138000 or +8613800138000."),
        ("  ", "Please enter your mobile number."),
    ],
)
def test_an_invalid_phone_gets_no_code(client, customer, sms_sandbox, phone, message):
    response = _ask(_signed_in(client, customer), phone)
    assert (response.status_code, response.json()) == (400, {"errors": {"phone": message}})
    assert (sms_sandbox.requests, PhoneVerification.objects.count()) == (0, 0)


def test_the_sandbox_refuses_a_request_signed_with_another_key(
    client, customer, sms_sandbox, settings
):
    settings.TENCENT_SMS_SECRET_KEY = "not-the-sandbox-secret"
    response = _ask(_signed_in(client, customer))
    assert (response.status_code, response.json()) == (
        400,
        {"errors": {"phone": "The text message service is not configured correctly."}},
    )
    assert (sms_sandbox.requests, sms_sandbox.last(PHONE)) == (1, None)
    assert PhoneVerification.objects.count() == 0


def test_one_code_a_minute_and_five_an_hour_per_number(client, customer, sms_sandbox):
    _signed_in(client, customer)
    assert _ask(client).status_code == 200
    response = _ask(client)
    assert (response.status_code, response.json()) == (
        429,
        {
            "errors": {
                "phone": "A code was sent to this number less than a minute ago. Please wait."
            }
        },
    )
    for _ in range(4):
        cache.delete(f"sms:minute:{PHONE}")  # a minute passes
        assert _ask(client).status_code == 200
    cache.delete(f"sms:minute:{PHONE}")
    response = _ask(client)
    assert (response.status_code, response.json()) == (
        429,
        {
            "errors": {
                "phone": "Too many codes were sent to this number. Please try again in an hour."
            }
        },
    )
    assert (sms_sandbox.requests, PhoneVerification.objects.count()) == (5, 5)


def test_ten_codes_an_hour_per_client_address(client, customer, sms_sandbox):
    _signed_in(client, customer)
    for n in range(10):
        assert _ask(client, f"1380013800{n}").status_code == 200
    response = _ask(client, "13900139000")
    assert (response.status_code, response.json()) == (
        429,
        {
            "errors": {
                "phone": "Too many codes were requested from this network. Please try again later."
            }
        },
    )
    assert (sms_sandbox.requests, PhoneVerification.objects.count()) == (10, 10)
    # Another address still gets its code.
    assert _ask(client, "13900139000", REMOTE_ADDR="10.1.2.3").status_code == 200


@pytest.mark.parametrize(
    ("errors", "status", "message", "requests"),
    [
        (
            ["LimitExceeded.PhoneNumberDailyLimit"],
            400,
            "This number has received too many codes today. Please try again tomorrow.",
            1,
        ),
        (
            ["FailedOperation.TemplateIncorrectOrUnapproved"],
            400,
            "The text message service refused to send the code.",
            1,
        ),
        (
            ["FailedOperation.PhoneNumberInBlacklist"],
            400,
            "This number has refused text messages from us, so no code can be sent.",
            1,
        ),
        (
            ["InvalidParameterValue.IncorrectPhoneNumber"],
            400,
            "Enter a valid mobile number, such as 13800138000 or +8613800138000.",
            1,
        ),
        (
            ["InternalError.Timeout"] * 3,
            400,
            "The text message service is busy. Please try again.",
            3,
        ),
        (["InternalError.Timeout"], 200, None, 2),  # retried once, then sent
        (["InternalError.Timeout", "InternalError.SendAndRecvFail"], 200, None, 3),
    ],
)
def test_provider_errors_are_explained_and_only_retryable_ones_retried(
    client, customer, sms_sandbox, errors, status, message, requests
):
    sms_sandbox.fail_next(PHONE, errors)
    response = _ask(_signed_in(client, customer))
    assert response.status_code == status
    if message:
        assert response.json() == {"errors": {"phone": message}}
        assert PhoneVerification.objects.count() == 0
        # A refused send does not count against the number: asking again at once works.
        assert _ask(client).status_code == 200
        assert sms_sandbox.requests == requests + 1
    else:
        assert PhoneVerification.objects.count() == 1
        assert sms_sandbox.requests == requests


def test_provider_errors_are_shown_in_chinese_to_a_chinese_browser(client, customer, sms_sandbox):
    sms_sandbox.fail_next(PHONE, ["LimitExceeded.PhoneNumberDailyLimit"])
    response = _ask(_signed_in(client, customer), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.json() == {"errors": {"phone": "该号码今天收到的验证码太多，请明天再试。"}}


def test_the_cache_sandbox_provider_sends_nothing_over_http(client, customer, settings):
    settings.SMS_PROVIDER = "sandbox"
    assert _ask(_signed_in(client, customer)).status_code == 200
    assert PhoneVerification.objects.get().code_hash == code_hash(PHONE, sms.sandbox_outbox(PHONE))


# -- checking the code and joining ----------------------------------------------------------------


def test_joining_with_the_right_code_verifies_the_phone_and_makes_it_a_strong_key(
    client, customer, tiers, sms_sandbox
):
    _ask(_signed_in(client, customer), "+86 138 0013 8000")
    code = _sent(sms_sandbox)
    response = _join(client, code, "0086-138-0013-8000")
    assert (response.status_code, response["Location"]) == (302, "/m/")
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_verified, customer.stage) == (PHONE, True, "member")
    assert list(CustomerKey.objects.filter(kind="phone").values_list("value", "customer")) == [
        (PHONE, customer.pk)
    ]
    assert PhoneVerification.objects.get().verified_at is not None
    assert Membership.objects.get().customer == customer
    assert MergeRecord.objects.count() == 0
    # The code is good once.
    with pytest.raises(PhoneCodeError) as refused:
        verify_phone_code(PHONE, code)
    assert (refused.value.reason, refused.value.text) == (
        "no_code",
        "Please get a verification code for this number first.",
    )


def test_a_wrong_code_is_refused_counted_and_nothing_is_joined(
    client, customer, tiers, sms_sandbox
):
    _ask(_signed_in(client, customer))
    code = _sent(sms_sandbox)
    wrong = "000000" if code != "000000" else "111111"
    response = _join(client, wrong)
    assert response.status_code == 400
    assert response.context["errors"] == {"code": WRONG % 4}
    assert PhoneVerification.objects.get().attempts == 1
    _nothing_joined(customer)


def test_joining_without_asking_for_a_code_is_refused(client, customer, tiers, sms_sandbox):
    response = _join(_signed_in(client, customer), "123456")
    assert response.status_code == 400
    assert response.context["errors"] == {
        "code": "Please get a verification code for this number first."
    }
    _nothing_joined(customer)


def test_an_expired_code_is_refused(client, customer, tiers, sms_sandbox):
    _ask(_signed_in(client, customer))
    PhoneVerification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _join(client, _sent(sms_sandbox))
    assert response.status_code == 400
    assert response.context["errors"] == {"code": "The code has expired. Please get a new one."}
    _nothing_joined(customer)


def test_a_code_for_another_number_is_refused(client, customer, tiers, sms_sandbox):
    _ask(_signed_in(client, customer))
    response = _join(client, _sent(sms_sandbox), "13900139000")
    assert response.context["errors"] == {
        "code": "Please get a verification code for this number first."
    }
    _nothing_joined(customer)


def test_five_wrong_codes_lock_the_number_even_for_the_right_code(
    client, customer, tiers, sms_sandbox
):
    _ask(_signed_in(client, customer))
    code = _sent(sms_sandbox)
    wrong = "000000" if code != "000000" else "111111"
    seen = [_join(client, wrong).context["errors"]["code"] for _ in range(5)]
    assert seen == [WRONG % 4, WRONG % 3, WRONG % 2, WRONG % 1, LOCKED]
    response = _join(client, code)  # the sixth try, with the right code
    assert (response.status_code, response.context["errors"]) == (400, {"code": LOCKED})
    row = PhoneVerification.objects.get()
    assert (row.attempts, row.verified_at) == (5, None)
    assert row.locked_until - timezone.now() > timedelta(minutes=29)
    # No new code while locked either.
    cache.delete(f"sms:minute:{PHONE}")
    response = _ask(client)
    assert (response.status_code, response.json()) == (429, {"errors": {"code": LOCKED}})
    assert sms_sandbox.requests == 1
    _nothing_joined(customer)


def test_the_lock_ends_after_thirty_minutes(client, customer, tiers, sms_sandbox):
    _ask(_signed_in(client, customer))
    PhoneVerification.objects.update(attempts=5, locked_until=timezone.now() - timedelta(seconds=1))
    cache.delete(f"sms:minute:{PHONE}")
    assert _ask(client).status_code == 200
    assert _join(client, _sent(sms_sandbox)).status_code == 302


def test_a_verified_phone_merges_with_the_older_customer_holding_it(
    client, customer, tiers, sms_sandbox
):
    """An imported (Weibo-sourced) customer holds the phone as a key: verifying it on the
    WeChat customer merges the two, the older survives with the membership."""
    older = resolve_customer(
        channel="weibo",
        keys={"phone": "+86 138-0013-8000"},
        defaults={"name": "微博李雷"},
        at=timezone.now() - timedelta(days=30),
    )
    _ask(_signed_in(client, customer))
    response = _join(client, _sent(sms_sandbox))
    assert (response.status_code, response["Location"]) == (302, "/m/")
    customer.refresh_from_db()
    older.refresh_from_db()
    assert customer.merged_into_id == older.pk
    record = MergeRecord.objects.get()
    assert (record.source_id, record.target_id, record.reason) == (customer.pk, older.pk, "phone")
    assert (older.phone, older.phone_verified, older.stage) == (PHONE, True, "member")
    assert Membership.objects.get().customer_id == older.pk
    assert client.session[SESSION_KEY] == older.pk
    assert set(older.keys.values_list("kind", flat=True)) == {"phone", "unionid"}
    page = client.get("/m/")
    assert page.status_code == 200
    assert Membership.objects.get().member_number in page.content.decode()
    assert Customer.objects.filter(merged_into__isnull=True).count() == 1


def test_erasure_deletes_the_customers_codes(client, customer, tiers, sms_sandbox):
    from crm.privacy import erase_customer

    _ask(_signed_in(client, customer))
    assert _join(client, _sent(sms_sandbox)).status_code == 302
    counts = erase_customer(customer)
    assert counts["members.PhoneVerification (deleted)"] == 1
    assert PhoneVerification.objects.count() == 0
    assert CustomerKey.objects.filter(kind="phone").count() == 0


def test_a_new_code_does_not_give_a_fresh_set_of_tries(client, customer, tiers, sms_sandbox):
    _ask(_signed_in(client, customer))
    wrong = "000000" if _sent(sms_sandbox) != "000000" else "111111"
    seen = [_join(client, wrong).context["errors"]["code"] for _ in range(4)]
    cache.delete(f"sms:minute:{PHONE}")  # a minute later, a second code
    assert _ask(client).status_code == 200
    code = _sent(sms_sandbox)
    wrong = "000000" if code != "000000" else "111111"
    seen.append(_join(client, wrong).context["errors"]["code"])
    assert seen == [WRONG % 4, WRONG % 3, WRONG % 2, WRONG % 1, LOCKED]
    assert _join(client, code).context["errors"] == {"code": LOCKED}
    _nothing_joined(customer)


def test_a_request_without_a_usable_address_still_gets_a_code(client, customer, sms_sandbox):
    response = _ask(_signed_in(client, customer), REMOTE_ADDR="")
    assert response.status_code == 200
    assert PhoneVerification.objects.get().client_ip is None


def test_a_phone_that_is_only_contact_data_elsewhere_merges_nothing(
    client, customer, tiers, sms_sandbox
):
    """A customer who merely typed the number somewhere (no key, unverified) is a duplicate
    candidate for a person to review, not an automatic merge."""
    other = Customer.objects.create(name="李雷", phone=PHONE)
    _ask(_signed_in(client, customer))
    assert _join(client, _sent(sms_sandbox)).status_code == 302
    other.refresh_from_db()
    assert (other.merged_into_id, MergeRecord.objects.count()) == (None, 0)
    assert Membership.objects.get().customer == customer


def test_without_javascript_a_refused_code_shows_the_error_on_the_join_page(
    client, customer, sms_sandbox
):
    response = _signed_in(client, customer).post("/m/join/code", {"phone": "12345"})
    assert response.status_code == 400
    assert response.context["errors"] == {
        "phone": "Enter a valid mobile number, such as 13800138000 or +8613800138000."
    }
    assert 'id="phone-error"' in response.content.decode()
    assert (sms_sandbox.requests, PhoneVerification.objects.count()) == (0, 0)


def test_the_code_endpoint_only_posts_and_only_for_non_members(
    client, customer, tiers, sms_sandbox
):
    _signed_in(client, customer)
    assert client.get("/m/join/code")["Location"] == "/m/join"
    join_membership(customer, via="wechat")
    assert _ask(client)["Location"] == "/m/"
    assert (sms_sandbox.requests, PhoneVerification.objects.count()) == (0, 0)
