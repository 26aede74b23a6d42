"""Campaign.kols gets a through model, CampaignKol, on the table it already has, then a fee.

The first step changes only Django's state (the table, its columns and its unique constraint
stay as they are, rows included); the second adds the fee column, 0 for the existing rows.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("channels_weibo", "0002_weibopost_cascade_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="CampaignKol",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "campaign",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="channels_weibo.campaign",
                                verbose_name="campaign",
                            ),
                        ),
                        (
                            "kol",
                            models.ForeignKey(
                                db_column="weibouser_id",
                                on_delete=django.db.models.deletion.CASCADE,
                                to="channels_weibo.weibouser",
                                verbose_name="KOL",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "campaign KOL",
                        "verbose_name_plural": "campaign KOLs",
                        "db_table": "channels_weibo_campaign_kols",
                        "unique_together": {("campaign", "kol")},
                    },
                ),
                migrations.AlterField(
                    model_name="campaign",
                    name="kols",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="campaigns",
                        through="channels_weibo.CampaignKol",
                        to="channels_weibo.weibouser",
                        verbose_name="KOLs",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="campaignkol",
            name="fee_fen",
            field=models.PositiveIntegerField(default=0, verbose_name="fee (fen)"),
        ),
    ]
