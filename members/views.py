"""Member self-service pages (/m/), for WeChat's in-app browser.

A visitor signs in through WeChat OAuth (`snsapi_base`): the page redirects to the authorize
URL, WeChat (the sandbox here) redirects back with a code, and the code gives the openid and
unionid, which find or create the customer (`crm.identity.resolve_customer`). The customer id
is then kept in the session.
"""

import secrets

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from crm.actions import set_marketing_consent
from crm.identity import resolve_customer
from crm.models import Channel, Customer, CustomerKey
from crm.security import client_ip

from . import client, qr
from .actions import CouponError, join_with_phone, link_payer_openid, phone_verification
from .actions.coupons import claim_coupon
from .actions.orders import customer_for_openid
from .models import Coupon, CouponTemplate, Membership, MerchantConfig, Order

SESSION_KEY = "members_customer"


def _merchant() -> MerchantConfig | None:
    return MerchantConfig.objects.filter(active=True).exclude(app_secret="").order_by("pk").first()


def _customer(request) -> Customer | None:
    pk = request.session.get(SESSION_KEY)
    if not pk:
        return None
    customer = Customer.objects.filter(pk=pk).first()
    while customer is not None and customer.merged_into_id:
        customer = Customer.objects.filter(pk=customer.merged_into_id).first()
    return customer


def _sign_in(request):
    merchant = _merchant()
    if merchant is None:
        return HttpResponse(_("Member pages are not configured yet."), status=503)
    state = secrets.token_urlsafe(16)
    request.session["members_oauth_state"] = state
    request.session["members_next"] = request.get_full_path()
    callback = request.build_absolute_uri(reverse("members:oauth_callback"))
    return HttpResponseRedirect(client.authorize_url(merchant.appid, callback, state))


def oauth_callback(request):
    state = request.GET.get("state", "")
    expected = request.session.pop("members_oauth_state", None)
    if (
        not expected
        or not secrets.compare_digest(state.encode(), expected.encode())
        or not request.GET.get("code")
    ):
        return HttpResponse(
            _("The sign-in link has expired. Please open the page again."), status=400
        )
    merchant = _merchant()
    if merchant is None:
        return HttpResponse(_("Member pages are not configured yet."), status=503)
    try:
        grant = client.exchange_code(merchant.appid, merchant.app_secret, request.GET["code"])
    except client.OAuthError:
        return HttpResponse(_("WeChat sign-in failed. Please try again."), status=502)
    openid, unionid = grant["openid"], grant.get("unionid", "")
    customer = customer_for_openid(merchant.appid, openid)
    if unionid or customer is None:
        customer = resolve_customer(
            channel=Channel.WECHAT,
            keys={CustomerKey.Kind.UNIONID: unionid},
            customer=customer,
        )
    link_payer_openid(customer, appid=merchant.appid, openid=openid, unionid=unionid)
    next_path = request.session.pop("members_next", "")
    request.session.cycle_key()
    request.session[SESSION_KEY] = customer.pk
    if next_path.startswith("/m/") and not next_path.startswith("//"):
        return HttpResponseRedirect(next_path)
    return redirect("members:home")


def _member_or_redirect(request):
    customer = _customer(request)
    if customer is None:
        return None, _sign_in(request)
    membership = Membership.objects.filter(customer=customer).select_related("tier").first()
    if membership is None:
        return None, redirect("members:join")
    return membership, None


@never_cache  # the page holds a short-lived card code: never show a stored copy
def home(request):
    membership, response = _member_or_redirect(request)
    if response:
        return response
    return render(
        request,
        "members/card.html",
        {
            "membership": membership,
            "member_qr": qr.svg(qr.member_code(membership)),
            "refresh_in": qr.card_code_refresh_in(),
            "coupons_valid": Coupon.objects.filter(
                customer=membership.customer, redeemed_at__isnull=True
            )
            .exclude(expires_at__lte=timezone.now())
            .count(),
            "recent_entries": membership.points_entries.all()[:3],
        },
    )


@require_http_methods(["GET", "POST"])
def marketing(request):
    """The card page's switch: POST `consent_marketing` "on" accepts marketing messages, anything
    else withdraws the consent (`set_marketing_consent`, on the timeline); back to the card. A
    GET (a bookmarked or shared link) changes nothing and shows the card."""
    membership, response = _member_or_redirect(request)
    if response:
        return response
    if request.method != "POST":
        return redirect("members:home")
    consent = request.POST.get("consent_marketing") == "on"
    if set_marketing_consent(membership.customer, consent, via="member_page"):
        messages.success(
            request,
            _("You will receive member offers and events.")
            if consent
            else _("You will no longer receive member offers and events."),
        )
    return redirect("members:home")


@never_cache
def card_code(request):
    """A fresh member card QR code for the card page, which fetches one before the shown code
    expires: `{"qr_svg", "expires_in", "refresh_in"}` (seconds)."""
    membership, response = _member_or_redirect(request)
    if response:
        return response
    return JsonResponse(
        {
            "qr_svg": qr.svg(qr.member_code(membership)),
            "expires_in": qr.card_code_lifetime(),
            "refresh_in": qr.card_code_refresh_in(),
        }
    )


def _join_page(request, customer, *, errors=None, phone=None, notice="", status=None):
    errors = errors or {}
    return render(
        request,
        "members/join.html",
        {
            "errors": errors,
            "phone": customer.phone if phone is None else phone,
            "notice": notice,
        },
        status=status or (400 if errors else 200),
    )


@require_http_methods(["GET", "POST"])
def join(request):
    """The join form: mobile number, the SMS code sent to it (`join_code`), privacy consent."""
    customer = _customer(request)
    if customer is None:
        return _sign_in(request)
    if Membership.objects.filter(customer=customer).exists():
        return redirect("members:home")
    if request.method == "POST":
        phone = request.POST.get("phone", "").strip()
        try:
            membership, _created = join_with_phone(
                customer,
                phone,
                code=request.POST.get("code", ""),
                consent=request.POST.get("consent") == "on",
                marketing=request.POST.get("marketing") == "on",
            )
        except ValidationError as exc:
            errors = {field: texts[0] for field, texts in exc.message_dict.items()}
            return _join_page(request, customer, errors=errors, phone=phone)
        # The verified phone may have merged this customer into an older one: follow it.
        request.session[SESSION_KEY] = membership.customer_id
        messages.success(request, _("Welcome! You are now a member."))
        return redirect("members:home")
    return _join_page(request, customer)


@require_http_methods(["GET", "POST"])
def join_code(request):
    """获取验证码: POST `phone` sends a code (`request_phone_code`). Answers JSON
    (`{"sent": true, "expires_in", "resend_in"}`, or 400/429 `{"errors": {"phone"|"code": text}}`)
    to a script that asks for JSON, and the join page with a notice otherwise (no JS needed)."""
    customer = _customer(request)
    if customer is None:
        return _sign_in(request)
    if Membership.objects.filter(customer=customer).exists():
        return redirect("members:home")
    if request.method != "POST":
        return redirect("members:join")
    wants_json = "application/json" in request.headers.get("Accept", "")
    phone = request.POST.get("phone", "").strip()
    try:
        phone_verification.request_phone_code(phone, client_ip(request), customer=customer)
    except phone_verification.PhoneCodeError as exc:
        limited = exc.reason in {"locked", "too_soon", "number_limit", "address_limit"}
        status = 429 if limited else 400
        if wants_json:
            return JsonResponse({"errors": {exc.field: exc.text}}, status=status)
        return _join_page(request, customer, errors={exc.field: exc.text}, phone=phone)
    if wants_json:
        return JsonResponse(
            {"sent": True, "expires_in": phone_verification.CODE_MINUTES * 60, "resend_in": 60}
        )
    return _join_page(
        request, customer, phone=phone, notice=_("A verification code was sent to your phone.")
    )


def points(request):
    membership, response = _member_or_redirect(request)
    if response:
        return response
    return render(
        request,
        "members/points.html",
        {"membership": membership, "entries": membership.points_entries.all()[:100]},
    )


def coupons(request):
    membership, response = _member_or_redirect(request)
    if response:
        return response
    rows = Coupon.objects.filter(customer=membership.customer).select_related("template")[:50]
    return render(
        request,
        "members/coupons.html",
        {
            "membership": membership,
            "coupons": [(c, qr.svg(c.code) if c.state == "valid" else "") for c in rows],
        },
    )


def orders(request):
    membership, response = _member_or_redirect(request)
    if response:
        return response
    rows = Order.objects.filter(customer=membership.customer).select_related("store")[:50]
    return render(request, "members/orders.html", {"membership": membership, "orders": rows})


@require_http_methods(["GET", "POST"])
def claim(request, template_id: int):
    """A coupon campaign link (shared on Weibo, say): sign in through WeChat, then claim it.

    Only a publicly claimable template inside its claim window is offered (`claim_coupon`);
    any other id answers 404, the same page as for an id that does not exist. `?c=<campaign>`
    names the campaign; the coupon is recorded as issued via that campaign link.
    """
    customer = _customer(request)
    if customer is None:
        return _sign_in(request)
    ended = {"error": _("This offer has ended.")}
    template = CouponTemplate.objects.claimable(timezone.now()).filter(pk=template_id).first()
    if template is None:
        return render(request, "members/claim.html", ended, status=404)
    campaign = request.GET.get("c", "")[:100]
    if request.method == "POST":
        try:
            claim_coupon(template.pk, customer, campaign=campaign)
        except CouponError as exc:
            if exc.reason == "not_claimable":  # the window closed since the page was shown
                return render(request, "members/claim.html", ended, status=404)
            return render(
                request, "members/claim.html", {"template": template, "error": exc.text}, status=400
            )
        messages.success(request, _("The coupon is in your wallet."))
        return redirect("members:coupons")
    return render(request, "members/claim.html", {"template": template, "campaign": campaign})
