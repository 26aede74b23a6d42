"""Marketing staff in the admin, in a real browser: find, tag, inspect and merge customers."""

import pytest

from crm.actions import create_lead, record_interaction
from crm.models import Customer, MergeRecord
from tests.conftest import admin_login, make_staff

from .factories import CustomerFactory, TagFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_marketing_finds_customer_sees_timeline_and_merges_duplicate(live_server, browser_page):
    from django.contrib.auth.models import Group  # noqa: F401  groups exist after migrate

    make_staff("mkt", "marketing")
    TagFactory(name="VIP")
    original = CustomerFactory(name="林晓明", city="厦门", phone="13800000009")
    record_interaction(original, "mention", "weibo", summary="@品牌 新品什么时候到厦门？")
    create_lead(original, "咨询新品", source_channel="weibo")
    twin = CustomerFactory(name="林晓明", city="厦门")
    page = browser_page
    admin_login(page, live_server.url, "mkt", "pw-mkt")

    page.goto(f"{live_server.url}/admin/crm/customer/?q=%2B86+138+0000+0009")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "林晓明" in rows.first.inner_text()

    page.goto(f"{live_server.url}/admin/crm/customer/{original.pk}/change/")
    assert "时间线" in page.content()
    assert "@品牌 新品什么时候到厦门？" in page.content()
    assert "咨询新品" in page.content()

    page.goto(f"{live_server.url}/admin/crm/customer/duplicates/")
    page.click("text=合并…")
    page.check(f"input[name=target][value='{original.pk}']")
    page.click("input[type=submit][value='合并']")
    page.wait_for_selector(".messagelist")
    assert "已将 1 个客户合并到" in page.inner_text(".messagelist")
    twin.refresh_from_db()
    assert twin.merged_into_id == original.pk
    assert MergeRecord.objects.get().merged_by.username == "mkt"


def test_lead_pipeline_shows_columns_per_status(live_server, browser_page):
    make_staff("mkt", "marketing")
    create_lead(CustomerFactory(name="甲"), "团购报价", source_channel="weibo")
    page = browser_page
    admin_login(page, live_server.url, "mkt", "pw-mkt")
    page.goto(f"{live_server.url}/admin/crm/lead/pipeline/")
    column = page.locator(".pipeline .col[data-status=new]")
    assert "新建 (1)" in column.inner_text()
    assert "团购报价" in column.inner_text()
    assert Customer.objects.get().stage == "lead"
