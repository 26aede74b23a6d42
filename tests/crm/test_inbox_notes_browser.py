"""In a real browser (system Chromium): an agent labels a conversation, leaves a private note
that @-mentions a colleague, the colleague sees the unread count and finds the conversation with
the inbox search; a marketing user imports customers with the dry run and confirm."""

import pytest

from crm.models import ConversationLabel, ConversationNote, Customer, CustomerImport
from tests.conftest import admin_login, make_staff

from .factories import ConversationFactory, MessageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_label_note_mention_and_search(live_server, browser_page):
    make_staff("xiaowang", "agent")
    make_staff("lina", "agent")
    ConversationLabel.objects.create(name="物流")
    conversation = ConversationFactory(customer__name="孙丽")
    MessageFactory(conversation=conversation, content="快递三天没到，帮我催一下")

    page = browser_page
    admin_login(page, live_server.url, "xiaowang", "pw-xiaowang")
    page.goto(f"{live_server.url}/inbox/{conversation.pk}/")
    page.select_option("#label-add", label="物流")
    page.click("#add-label")
    page.wait_for_selector(".label-chip[data-label='物流']")
    page.fill("#note-text", "@lina 请联系快递公司核实")
    page.click("#add-note")
    page.wait_for_selector(".msg-note")
    note = ConversationNote.objects.get()
    assert page.inner_text(f"[data-note='{note.pk}'] .mention") == "@lina"
    assert "内部备注" in page.inner_text(f"[data-note='{note.pk}']")

    page.context.clear_cookies()
    admin_login(page, live_server.url, "lina", "pw-lina")
    page.goto(f"{live_server.url}/inbox/")
    assert page.inner_text("#unread-count") == "1"
    page.fill("#inbox-search input[name=q]", "催一下")
    page.press("#inbox-search input[name=q]", "Enter")
    page.wait_for_selector("#search-results")
    rows = page.locator("#search-results .search-row")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-id") == str(conversation.pk)
    assert "快递三天没到，帮我催一下" in rows.first.inner_text()
    assert "物流" in rows.first.inner_text()


def test_import_with_dry_run_and_confirm(live_server, browser_page, tmp_path):
    make_staff("mkt", "marketing")
    path = tmp_path / "客户.csv"
    path.write_text("姓名,手机,城市\n王五,13912345678,上海\n赵六,12345,北京\n", encoding="utf-8")
    page = browser_page
    admin_login(page, live_server.url, "mkt", "pw-mkt")
    page.goto(f"{live_server.url}/admin/crm/customerimport/")
    page.click("#import-customers")
    page.set_input_files("#id_file", str(path))
    page.click("#check-file")
    page.wait_for_selector("#row-errors")
    assert page.locator(".row-error").count() == 1
    assert page.get_attribute(".row-error", "data-line") == "3"
    assert page.get_attribute(".row-error", "data-field") == "phone"
    assert Customer.objects.count() == 0
    page.click("#confirm-import")
    page.wait_for_selector(".messagelist")
    assert list(Customer.objects.values_list("name", "phone", "city")) == [
        ("王五", "13912345678", "上海")
    ]
    assert CustomerImport.objects.get().customer_ids == [Customer.objects.get().pk]
