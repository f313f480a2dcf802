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
