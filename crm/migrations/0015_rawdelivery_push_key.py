"""RawDelivery.push_key and its unique index: the replay check of the webhooks (issue #17).

In production crm_rawdelivery is large, so neither step locks it for long:
- the column is nullable with no default: PostgreSQL adds it to the catalogue only (no
  rewrite), under a lock held for milliseconds;
- the unique index is partial (`WHERE push_key IS NOT NULL`, so existing rows, all null, add
  nothing to it) and built with CREATE UNIQUE INDEX CONCURRENTLY, which does not block inserts:
  the hooks keep storing pushes while it builds. That is why this migration is not atomic.
  If the build fails (it leaves an INVALID index behind), `DROP INDEX CONCURRENTLY
  raw_push_key_uniq` and migrate again.
Other databases (SQLite, for the demo) get the constraint the ordinary way.
"""

from django.db import migrations, models
from django.db.models import Q

CONSTRAINT = models.UniqueConstraint(
    fields=["push_key"], name="raw_push_key_uniq", condition=Q(push_key__isnull=False)
)
CREATE = (
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS raw_push_key_uniq "
    "ON crm_rawdelivery (push_key) WHERE push_key IS NOT NULL"
)
DROP = "DROP INDEX CONCURRENTLY IF EXISTS raw_push_key_uniq"


def add_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)
    else:
        schema_editor.add_constraint(apps.get_model("crm", "RawDelivery"), CONSTRAINT)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)
    else:
        schema_editor.remove_constraint(apps.get_model("crm", "RawDelivery"), CONSTRAINT)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("crm", "0014_merge_journey_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="rawdelivery",
            name="push_key",
            field=models.CharField(
                blank=True, editable=False, max_length=64, null=True, verbose_name="push key"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddConstraint(model_name="rawdelivery", constraint=CONSTRAINT)],
            database_operations=[migrations.RunPython(add_index, drop_index)],
        ),
    ]
