"""Backup and restore as README.md documents it: `pg_dump -Fc`, then `pg_restore` into a fresh
database, which must hold every row of every table and the same values (a Chinese name, a secret
that still decrypts with the installation's key)."""

import os
import subprocess
import uuid

import psycopg2
import pytest
from django.db import connection

from channels_wechat.models import OfficialAccount
from crm.actions import add_note
from crm.fields import EncryptedTextField
from tests.crm.factories import CustomerFactory
from tests.services import find_binary

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="pg_dump/pg_restore need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),  # pg_dump only sees committed rows
]


def _libpq(settings_dict, dbname):
    env = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    args = [
        "--host",
        settings_dict.get("HOST") or "127.0.0.1",
        "--port",
        str(settings_dict.get("PORT") or 5432),
        "--username",
        settings_dict.get("USER") or "postgres",
        "--dbname",
        dbname,
    ]
    return args, env


def _connect(settings_dict, dbname):
    conn = psycopg2.connect(
        host=settings_dict.get("HOST") or "127.0.0.1",
        port=settings_dict.get("PORT") or 5432,
        user=settings_dict.get("USER") or "postgres",
        password=settings_dict.get("PASSWORD") or "",
        dbname=dbname,
    )
    conn.autocommit = True
    return conn


def _table_counts(conn) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        tables = [row[0] for row in cur.fetchall()]
        counts = {}
        for table in tables:
            cur.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cur.fetchone()[0]
    return counts


def test_pg_dump_and_pg_restore_into_a_fresh_database_keep_every_row(tmp_path):
    customer = CustomerFactory(name="欧阳娜娜", phone="13912345678", city="成都")
    add_note(customer, "喜欢<绿茶> & 乌龙")
    for i in range(25):
        CustomerFactory(name=f"备份客户{i}")
    account = OfficialAccount.objects.create(
        appid="wxbackup00000001",
        name="备份测试号",
        app_secret="backup-app-secret-42",
        token="backupToken42",
        mode="plaintext",
    )
    pg_dump, pg_restore = find_binary("pg_dump"), find_binary("pg_restore")
    assert pg_dump and pg_restore, "pg_dump and pg_restore must be installed"
    settings_dict = connection.settings_dict
    source_db = settings_dict["NAME"]
    fresh_db = f"restore_{uuid.uuid4().hex[:12]}"
    dump = tmp_path / "crm.dump"

    args, env = _libpq(settings_dict, source_db)
    subprocess.run([pg_dump, "-Fc", "--no-owner", "--file", str(dump), *args], env=env, check=True)
    assert dump.stat().st_size > 0

    admin = _connect(settings_dict, "postgres")
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE \"{fresh_db}\" ENCODING 'UTF8' TEMPLATE template0")
    try:
        args, env = _libpq(settings_dict, fresh_db)
        restored = subprocess.run(
            [pg_restore, "--no-owner", "--exit-on-error", *args, str(dump)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert (restored.returncode, restored.stderr) == (0, "")

        source = _connect(settings_dict, source_db)
        target = _connect(settings_dict, fresh_db)
        try:
            before, after = _table_counts(source), _table_counts(target)
            assert after == before
            assert before["crm_customer"] == 26 and before["crm_note"] == 1
            assert len(before) > 40  # every app's tables, not just crm's
            with target.cursor() as cur:
                cur.execute(
                    "SELECT name, phone, city FROM crm_customer WHERE id = %s", [customer.pk]
                )
                assert cur.fetchone() == ("欧阳娜娜", "13912345678", "成都")
                cur.execute("SELECT body FROM crm_note WHERE customer_id = %s", [customer.pk])
                assert cur.fetchone() == ("喜欢<绿茶> & 乌龙",)
                cur.execute(
                    "SELECT app_secret FROM channels_wechat_officialaccount WHERE id = %s",
                    [account.pk],
                )
                stored = cur.fetchone()[0]
            assert stored.startswith("enc1:") and "backup-app-secret-42" not in stored
            field = OfficialAccount._meta.get_field("app_secret")
            assert isinstance(field, EncryptedTextField)
            assert field.from_db_value(stored, None, None) == "backup-app-secret-42"
        finally:
            source.close()
            target.close()
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [fresh_db],
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{fresh_db}"')
        admin.close()
