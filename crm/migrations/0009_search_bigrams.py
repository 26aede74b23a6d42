"""Two-character search terms (退款, 物流, 李华) have no trigram, so pg_trgm cannot narrow them
(crm.search): a GIN index over each text's distinct character pairs (`crm_search_bigrams`, the
pg_bigm idea in plain SQL) serves them. PostgreSQL only."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION crm_search_bigrams(t text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT substr(u, i, 2)), '{}'::text[])
  FROM (SELECT upper(t) AS u) s, generate_series(1, char_length(u) - 1) AS i
$$
"""
BIGRAM_INDEXES = [
    ("crm_message_content_bigrams", "crm_message", "content"),
    ("crm_customer_name_bigrams", "crm_customer", "name"),
    ("crm_conversationnote_body_bigrams", "crm_conversationnote", "body"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for name, table, column in BIGRAM_INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (crm_search_bigrams({column}))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in BIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("DROP FUNCTION IF EXISTS crm_search_bigrams(text)")


class Migration(migrations.Migration):
    dependencies = [("crm", "0008_conversation_notes_labels_search_imports")]

    operations = [migrations.RunPython(create, drop)]
