"""The customer list as CSV, for the API's export and the admin's export action (both audit the
export themselves before streaming this)."""

import csv

from django.utils import timezone

CSV_HEADER = [
    "编号",
    "姓名",
    "手机",
    "邮箱",
    "性别",
    "城市",
    "生命周期阶段",
    "首次接触渠道",
    "标签",
    "创建时间",
]


def customer_csv(rows):
    """Stream the customers of `rows` (a Customer queryset, tags prefetched) as CSV lines:
    UTF-8 with a BOM first, so Excel opens Chinese correctly; Chinese column titles."""

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())
    yield "\ufeff" + writer.writerow(CSV_HEADER)
    for c in rows.iterator(chunk_size=2000):
        yield writer.writerow(
            [
                c.pk,
                c.name,
                c.phone,
                c.email,
                c.get_gender_display(),
                c.city,
                c.get_stage_display(),
                c.get_first_channel_display(),
                " ".join(t.name for t in c.tags.all()),
                timezone.localtime(c.created_at).strftime("%Y-%m-%d %H:%M"),
            ]
        )
