"""Proving a mobile number by SMS code: send a code, check it.

A code is 6 digits from `secrets`, stored only as an HMAC (keyed with SECRET_KEY, so a copy of
the table does not give the codes away), good for CODE_MINUTES and one successful check. Sends
are limited per number (PER_NUMBER_MINUTE, PER_NUMBER_HOUR) and per client address
(PER_ADDRESS_HOUR) through the cache; MAX_ATTEMPTS wrong tries lock the number for
LOCK_MINUTES, during which no code is sent to it or accepted for it.
"""

import hashlib
import hmac
import ipaddress
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Customer, normalize_phone

from .. import sms
from ..models import PhoneVerification
from .errors import ActionError

CODE_MINUTES = 5
MAX_ATTEMPTS = 5
LOCK_MINUTES = 30
PER_NUMBER_MINUTE = 1
PER_NUMBER_HOUR = 5
PER_ADDRESS_HOUR = 10


class PhoneCodeError(ActionError):
    """A code not sent or not accepted. Reasons: `invalid` (not a mobile number), `locked`,
    `too_soon`, `number_limit`, `address_limit`, `provider` (the SMS provider refused),
    `wrong`, `expired`, `no_code`."""


def code_hash(phone: str, code: str) -> str:
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{phone}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def clean_phone(phone: str) -> str:
    """The normalised number, or PhoneCodeError `invalid` (an empty or malformed one)."""
    try:
        normal = normalize_phone((phone or "").strip())
    except ValidationError as exc:
        raise PhoneCodeError("phone", exc.messages[0], "invalid") from exc
    if not normal:
        raise PhoneCodeError("phone", _("Please enter your mobile number."), "invalid")
    return normal


def _locked(phone: str, now) -> bool:
    return PhoneVerification.objects.filter(phone=phone, locked_until__gt=now).exists()


def _locked_error() -> PhoneCodeError:
    return PhoneCodeError(
        "code",
        _("Too many wrong codes for this number. Please try again in %(minutes)s minutes.")
        % {"minutes": LOCK_MINUTES},
        "locked",
    )


def _address(value: str | None) -> str | None:
    """An IP address, or None for anything else (crm.security.client_ip says "unknown")."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def _count(key: str) -> int:
    return cache.get(key, 0)


def _bump(key: str, seconds: int) -> None:
    if not cache.add(key, 1, seconds):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, seconds)


def request_phone_code(
    phone: str, client_ip: str | None, *, customer: Customer | None = None
) -> PhoneVerification:
    """Send a new code to the number; returns the PhoneVerification row.

    Refuses with PhoneCodeError (nothing stored, nothing sent): `invalid`; `locked` while the
    number is locked; `too_soon` within a minute of the last code to the number; `number_limit`
    after PER_NUMBER_HOUR codes to it in an hour; `address_limit` after PER_ADDRESS_HOUR codes
    asked from one address in an hour; `provider` when the SMS provider refused (its message
    for the person; retryable errors were retried by `members.sms.send_code`), and then the
    send does not count against the limits. The row is written only after the provider
    accepted the code.
    """
    phone = clean_phone(phone)
    client_ip = _address(client_ip)
    now = timezone.now()
    if _locked(phone, now):
        raise _locked_error()
    hour_key, ip_key = f"sms:hour:{phone}", f"sms:ip:{client_ip or '-'}"
    if _count(hour_key) >= PER_NUMBER_HOUR:
        raise PhoneCodeError(
            "phone",
            _("Too many codes were sent to this number. Please try again in an hour."),
            "number_limit",
        )
    if client_ip and _count(ip_key) >= PER_ADDRESS_HOUR:
        raise PhoneCodeError(
            "phone",
            _("Too many codes were requested from this network. Please try again later."),
            "address_limit",
        )
    minute_key = f"sms:minute:{phone}"
    # add() is atomic: of two requests in the same minute, one sends.
    if not cache.add(minute_key, 1, 60 // PER_NUMBER_MINUTE):
        raise PhoneCodeError(
            "phone",
            _("A code was sent to this number less than a minute ago. Please wait."),
            "too_soon",
        )
    code = f"{secrets.randbelow(10**6):06d}"
    try:
        sms.send_code(phone, code)
    except sms.SmsError as exc:
        cache.delete(minute_key)
        raise PhoneCodeError("phone", exc.message, "provider") from exc
    _bump(hour_key, 3600)
    if client_ip:
        _bump(ip_key, 3600)
    return PhoneVerification.objects.create(
        phone=phone,
        code_hash=code_hash(phone, code),
        customer=customer,
        client_ip=client_ip or None,
        created_at=now,
        expires_at=now + timedelta(minutes=CODE_MINUTES),
    )


def verify_phone_code(phone: str, code: str) -> PhoneVerification:
    """Check the code against the number's latest code; returns the verified row.

    The row is marked verified (`verified_at`): a code is good once. Refuses with
    PhoneCodeError: `invalid` number; `locked` while the number is locked (even the right code);
    `no_code` if no unused code was sent to it; `expired` after CODE_MINUTES; `wrong`, which
    counts an attempt, and the MAX_ATTEMPTS-th wrong try on the number (over its codes of the
    last hour) locks the number for LOCK_MINUTES (reason `locked`). The attempt count is committed even though the call refuses. The
    comparison takes the same time whatever the code.
    """
    phone = clean_phone(phone)
    code = (code or "").strip()
    now = timezone.now()
    with transaction.atomic():
        if _locked(phone, now):
            raise _locked_error()
        row = (
            PhoneVerification.objects.select_for_update()
            .filter(phone=phone, verified_at__isnull=True)
            .order_by("-created_at", "-pk")
            .first()
        )
        if row is None:
            raise PhoneCodeError(
                "code", _("Please get a verification code for this number first."), "no_code"
            )
        if row.expires_at <= now:
            raise PhoneCodeError(
                "code", _("The code has expired. Please get a new one."), "expired"
            )
        if hmac.compare_digest(row.code_hash, code_hash(phone, code)):
            row.verified_at = now
            row.save(update_fields=["verified_at"])
            return row
        row.attempts += 1
        wrong = _recent_wrong_tries(phone, now, row)
        if wrong >= MAX_ATTEMPTS:
            row.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        row.save(update_fields=["attempts", "locked_until"])
    if row.locked_until:
        raise _locked_error()
    raise PhoneCodeError(
        "code",
        _("The code is wrong. %(left)s tries left.") % {"left": MAX_ATTEMPTS - wrong},
        "wrong",
    )


def _recent_wrong_tries(phone: str, now, row: PhoneVerification) -> int:
    """Wrong tries on the number in the last hour since its last lock ended, this one included:
    asking for a new code does not give a fresh set of tries."""
    since = now - timedelta(hours=1)
    rows = PhoneVerification.objects.filter(phone=phone).exclude(pk=row.pk)
    last_lock = rows.filter(locked_until__isnull=False).order_by("-locked_until").first()
    if last_lock is not None and last_lock.locked_until > since:
        since = last_lock.locked_until
    earlier = rows.filter(created_at__gte=since).aggregate(n=Sum("attempts"))["n"] or 0
    return earlier + row.attempts
