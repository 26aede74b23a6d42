"""Tag.color is #RRGGBB only: the validator, and stored colours that are not become the default.

The colour is written into `style=` attributes, so a row stored before the rule could carry CSS.
"""

import re

import django.core.validators
from django.db import migrations, models

DEFAULT = "#1677ff"
VALID = re.compile(r"\A#[0-9A-Fa-f]{6}\Z")


def repair_colours(apps, schema_editor):
    """Every tag whose colour is not #RRGGBB gets the default colour; valid ones are kept."""
    Tag = apps.get_model("crm", "Tag")
    bad = [pk for pk, color in Tag.objects.values_list("pk", "color") if not VALID.match(color)]
    Tag.objects.filter(pk__in=bad).update(color=DEFAULT)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_dashboard_live_indexes"),
    ]

    operations = [
        migrations.RunPython(repair_colours, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="tag",
            name="color",
            field=models.CharField(
                default="#1677ff",
                max_length=16,
                validators=[
                    django.core.validators.RegexValidator(
                        re.compile("\\A#[0-9A-Fa-f]{6}\\Z"),
                        "Enter a colour as #RRGGBB, for example #1677ff.",
                        code="invalid_color",
                    )
                ],
                verbose_name="color",
            ),
        ),
    ]
