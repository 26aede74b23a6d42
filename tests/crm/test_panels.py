"""Customer panels registered by other apps show on the customer's admin page."""

import pytest
from django.utils.html import format_html

from crm import panels

from .factories import CustomerFactory


def loyalty_panel(customer):
    return "积分", format_html("<p class='points'>{} 的积分: {}</p>", customer.name, "<b>99</b>")


def broken_panel(customer):
    raise RuntimeError("the panel's app is down")


@pytest.fixture
def registered():
    saved = list(panels.PANELS)
    panels.register_customer_panel(f"{__name__}.broken_panel")
    panels.register_customer_panel(f"{__name__}.loyalty_panel")
    yield
    panels.PANELS[:] = saved


def test_panels_render_escaped_and_a_broken_one_is_skipped(client, admin_user, registered):
    customer = CustomerFactory(name="<i>王芳</i>")
    client.force_login(admin_user)
    response = client.get(f"/admin/crm/customer/{customer.pk}/change/")
    assert response.status_code == 200
    assert response.context["panels"] == [
        ("积分", "<p class='points'>&lt;i&gt;王芳&lt;/i&gt; 的积分: &lt;b&gt;99&lt;/b&gt;</p>")
    ]
    assert "<p class='points'>&lt;i&gt;王芳&lt;/i&gt;" in response.content.decode()
