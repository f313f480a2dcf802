"""pg_dump through Mosaic: a backup or export of the whole database, every node's rows, that
restores on one plain PostgreSQL. Before this test pg_dump failed at the first sequence
("relation ... is not a table Mosaic routes": it reads `SELECT last_value, is_called FROM seq`),
and after that at Mosaic's own schema (`COPY _mosaic.local_decisions TO stdout`).

Each node has its own copy of a sequence, handing out its own stripe of values: a read of a
sequence through Mosaic is answered by the node whose copy went furthest, so the dump's setval
lies past every value handed out on any node.
"""

import os
import subprocess
import tempfile

import pytest

from harness import Mosaic, serving

TENANTS = 20


@pytest.fixture(scope="module")
def dumped():
    with serving(Mosaic(nodes=3, name="pgdump")) as m:
        c = m.connect()
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("CREATE TABLE accounts (tenant_id int NOT NULL, id bigserial, name text, "
                        "PRIMARY KEY (tenant_id, id))")
            cur.execute("CREATE INDEX accounts_name ON accounts (name)")
            cur.execute("INSERT INTO accounts (tenant_id, name) SELECT g %% %s, 'n' || g FROM generate_series(1, 300) g",
                        (TENANTS,))
            cur.execute("CREATE TABLE plans (id int PRIMARY KEY, label text)")  # single-tenant: the default node
            cur.execute("INSERT INTO plans VALUES (1, 'free'), (2, 'pro, \"quoted\"\\tand tab')")
            cur.execute("CREATE TABLE currencies (code text PRIMARY KEY, name text)")
            cur.execute("SELECT mosaic.create_reference_table('currencies')")
            cur.execute("INSERT INTO currencies VALUES ('EUR', 'euro'), ('JPY', 'yen')")
        c.close()
        # Every node holds some accounts, so each copy of the sequence handed out values.
        for n in m.nodes():
            nc = m.connect_node(n)
            with nc.cursor() as cur:
                cur.execute("SELECT count(*) FROM accounts")
                assert cur.fetchone()[0] > 0, n
            nc.close()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "dump.sql")
            r = subprocess.run(["pg_dump", "-h", m.host, "-p", str(m.port), "-U", "mosaic", "-d", "mosaic", "-f", path],
                               env=m.client_env(), capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            node = next(n for n in m.nodes() if n["id"] == 1)
            d = m.connect_node(node)
            d.autocommit = True
            d.cursor().execute("CREATE DATABASE restored")
            d.close()
            r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", node["host"], "-p", str(node["port"]),
                                "-U", node["user"], "-d", "restored", "-f", path],
                               env=m.client_env(), capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            m.restored_node = node
            yield m


def rows(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def restored(m, sql):
    """`sql`'s rows in the database restored from the dump (on node 1, without Mosaic)."""
    conn = m.connect_node(m.restored_node, dbname="restored")
    try:
        return rows(conn, sql)
    finally:
        conn.close()


@pytest.mark.parametrize("sql", [
    "SELECT tenant_id, id, name FROM accounts ORDER BY tenant_id, id",
    "SELECT id, label FROM plans ORDER BY id",
    "SELECT code, name FROM currencies ORDER BY code",
])
def test_the_restored_database_holds_every_nodes_rows(dumped, sql):
    via = dumped.connect()
    try:
        want = rows(via, sql)
    finally:
        via.close()
    assert want and restored(dumped, sql) == want


def test_the_restored_sequence_lies_past_every_value_handed_out(dumped):
    via = dumped.connect()
    try:
        top = rows(via, "SELECT max(id) FROM accounts")[0][0]
        # Through Mosaic the sequence reads as its furthest copy.
        assert rows(via, "SELECT last_value, is_called FROM accounts_id_seq") == [(top, True)]
    finally:
        via.close()
    assert restored(dumped, "SELECT last_value, is_called FROM accounts_id_seq") == [(top, True)]
    assert restored(dumped, "SELECT nextval('accounts_id_seq') > %d" % top) == [(True,)]


def test_the_restored_schema_has_the_index_and_keys(dumped):
    assert restored(dumped, "SELECT indexname FROM pg_indexes WHERE tablename = 'accounts' ORDER BY 1") == \
        [("accounts_name",), ("accounts_pkey",)]


def test_a_plain_postgresql_dump_restored_through_mosaic_keeps_ids_unique(dumped):
    """The way onto Mosaic: pg_dump of a plain PostgreSQL database, restored through Mosaic with
    psql. Its sequences are made anew (striped per node) and then set by `setval`: every node's
    copy must continue past the restored ids, each in its own stripe. Before, setval reached the
    default node alone: the other nodes handed out 2, 3, 66, ... again, ids the restored rows had."""
    m = dumped
    node = m.restored_node
    d = m.connect_node(node)
    d.autocommit = True
    d.cursor().execute("CREATE DATABASE legacy")
    d.close()
    src = m.connect_node(node, dbname="legacy")
    src.autocommit = True
    with src.cursor() as cur:
        cur.execute("CREATE TABLE legacy_users (id bigserial PRIMARY KEY, tenant_id int NOT NULL, email text)")
        cur.execute("INSERT INTO legacy_users (tenant_id, email) SELECT g % 7, 'u' || g FROM generate_series(1, 200) g")
        cur.execute("CREATE SEQUENCE legacy_counter START 5")
        cur.execute("SELECT setval('legacy_counter', 90, false)")  # not called: the next one is 90
    src.close()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "legacy.sql")
        r = subprocess.run(["pg_dump", "-h", node["host"], "-p", str(node["port"]), "-U", node["user"], "-d", "legacy",
                            "-f", path], env=m.client_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        r = m.psql(None, args=["-f", path])
        assert r.returncode == 0, r.stderr
    c = m.connect()
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT tenant_id), max(id) FROM legacy_users")
        assert cur.fetchone() == (200, 7, 200)
        cur.execute("INSERT INTO legacy_users (tenant_id, email) SELECT g % 7, 'new' || g FROM generate_series(1, 70) g")
        cur.execute("SELECT count(*), count(DISTINCT id), min(id) FILTER (WHERE email LIKE 'new%') FROM legacy_users")
        total, distinct, first_new = cur.fetchone()
        assert (total, distinct) == (270, 270) and first_new > 200, "ids handed out again"
        # A sequence set not called: its next value is at least the one set, on whichever node.
        cur.execute("SELECT nextval('legacy_counter')")
        assert cur.fetchone()[0] >= 90
        cur.execute("SELECT max(id) FROM legacy_users")
        top = cur.fetchone()[0]
    # The round trip: dumped through Mosaic (the sequence's copies say INCREMENT BY 64, the
    # stripe) and restored through it: striped again per node, set past every id.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "again.sql")
        r = subprocess.run(["pg_dump", "-h", m.host, "-p", str(m.port), "-U", "mosaic", "-d", "mosaic", "-t", "legacy_users",
                            "-f", path], env=m.client_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        with open(path) as f:
            assert "INCREMENT BY 64" in f.read()
        c.cursor().execute("DROP TABLE legacy_users")
        r = m.psql(None, args=["-f", path])
        assert r.returncode == 0, r.stderr
    with c.cursor() as cur:
        cur.execute("INSERT INTO legacy_users (tenant_id, email) SELECT g % 7, 'again' || g FROM generate_series(1, 70) g")
        cur.execute("SELECT count(*), count(DISTINCT id), min(id) FILTER (WHERE email LIKE 'again%') FROM legacy_users")
        total, distinct, first_new = cur.fetchone()
        assert (total, distinct) == (340, 340) and first_new > top, "ids handed out again"
    c.close()
