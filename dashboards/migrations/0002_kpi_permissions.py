from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="kpisnapshot",
            options={
                "ordering": ["channel", "day", "account", "metric"],
                "permissions": [
                    ("view_all_kpis", "Can view every dashboard and KPI"),
                    ("view_own_kpis", "Can view own customer-service figures"),
                ],
                "verbose_name": "KPI snapshot",
                "verbose_name_plural": "KPI snapshots",
            },
        ),
    ]
