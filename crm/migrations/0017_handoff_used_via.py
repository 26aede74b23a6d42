"""Handoff.used_via: how a handoff was claimed (its QR code, or its link opened in WeChat).

Handoffs claimed before this migration take it from their first applied claim's timeline entry
(channel wechat, kind other, `data.via`, recorded since OAuth claims existed). The stored attribution of the customers of
OAuth-claimed handoffs changes with the rule: run `manage.py rebuild_attribution` after it.
"""

from django.db import migrations, models


def backfill(apps, schema_editor):
    Handoff = apps.get_model("crm", "Handoff")
    Interaction = apps.get_model("crm", "Interaction")
    first_via: dict[int, str] = {}
    entries = (
        Interaction.objects.filter(
            channel="wechat", kind="other", data__applied=True, data__has_key="handoff"
        )
        .order_by("occurred_at", "id")
        .values_list("data", flat=True)
    )
    for data in entries.iterator():
        if data.get("handoff") is not None:
            first_via.setdefault(data["handoff"], data.get("via") or "qr")
    used = Handoff.objects.filter(used_at__isnull=False)
    oauth = [pk for pk, via in first_via.items() if via == "oauth"]
    used.filter(pk__in=oauth).update(used_via="oauth")
    used.filter(used_via="").update(used_via="qr")


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0016_presence_offline_chosen"),
    ]

    operations = [
        migrations.AddField(
            model_name="handoff",
            name="used_via",
            field=models.CharField(
                blank=True,
                choices=[("qr", "QR code"), ("oauth", "link opened in WeChat")],
                max_length=8,
                verbose_name="used through",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
