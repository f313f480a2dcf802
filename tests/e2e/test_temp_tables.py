"""Temporary tables over several nodes. Mosaic creates them on the default node alone (PostgreSQL
cannot PREPARE a transaction that touched one, so the two-phase commit other DDL runs in would
fail) and routes what reads or writes them there; INSERT ... SELECT moves rows between them and
split tables through Mosaic. In session pooling they live as long as the client's session; in
transaction pooling only ON COMMIT DROP inside a block is taken. On the binary before this test
every CREATE TEMP TABLE over more than one node failed ("cannot PREPARE a transaction that has
operated on temporary objects"), and one inside a block was unusable ("not a table Mosaic routes").

Differential: the session-pooling script runs through Mosaic (a table split over 3 nodes) and
on one node directly (the same rows in a plain table); every reply must match.
"""

import io
import json
import time

import psycopg2
import pytest

from harness import Mosaic, serving
from pgwire import PgConn
from test_deadlock import node_sql

IDS = (500, 1500, 2500)  # one row on each node of split_by_id's ranges


@pytest.fixture(scope="module")
def session_mosaic():
    with serving(Mosaic(nodes=3, name="temp", extra_args=["--pool-mode", "session"])) as m:
        yield m


def split_table(m, table):
    c = m.connect()
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
        m.split_by_id(table, None)
        cur.execute(f"INSERT INTO {table} VALUES " + ", ".join(f"({i}, {i})" for i in IDS))
    c.close()


def run(conn, steps, table):
    """Per step: the command tag and rows, or the error's SQLSTATE."""
    out = []
    cur = conn.cursor()
    for step in steps:
        sql = step.format(t=table)
        try:
            cur.execute(sql)
            out.append((step, cur.statusmessage, cur.fetchall() if cur.description else None))
        except psycopg2.Error as e:
            out.append((step, e.pgcode, None))
    return out


SESSION_SCRIPT = [
    "CREATE TEMP TABLE stage (id int, v int)",
    "INSERT INTO stage VALUES (10, 1), (1010, 2), (2010, 3)",
    "INSERT INTO stage SELECT id + 1, v FROM {t} WHERE id IN (500, 1500, 2500)",  # reads every node
    "CREATE INDEX ON stage (id)",
    "ANALYZE stage",
    "SELECT id, v FROM stage ORDER BY id",
    "SELECT count(*), sum(v) FROM stage s JOIN (VALUES (10), (1501)) AS k(id) USING (id)",
    "INSERT INTO {t} SELECT id, v FROM stage",  # rows for every node, the default one too
    "SELECT id, v FROM {t} ORDER BY id",
    "UPDATE stage SET v = v * 100 WHERE id > 2000",
    "DELETE FROM stage WHERE id = 10",
    "BEGIN",
    "CREATE TEMP TABLE s2 ON COMMIT DROP AS SELECT id, v FROM stage WHERE id > 2000",
    "INSERT INTO {t} SELECT id + 5, v FROM s2",  # written on node 3 only, besides the temporary ones
    "SELECT id, v FROM s2 ORDER BY id",
    "COMMIT",
    "SELECT * FROM s2",  # dropped at commit
    "BEGIN",
    "DROP TABLE stage",
    "ROLLBACK",
    "SELECT count(*) FROM stage",  # the rollback brought it back
    "BEGIN",
    "SAVEPOINT a",
    "ALTER TABLE stage RENAME TO stage2",
    "ROLLBACK TO SAVEPOINT a",
    "SELECT count(*) FROM stage",
    "COMMIT",
    "CREATE TEMP TABLE gone (a int)",
    "DISCARD TEMP",
    "SELECT * FROM gone",
    "SELECT * FROM stage",
    "SELECT id, v FROM {t} ORDER BY id",
]


def differential(m, table, script, meanwhile=lambda: None):
    """Runs `script` through Mosaic on split `table` and on node 1 directly on a plain copy
    (`table`_plain); asserts every step answers alike and nothing is left prepared. `meanwhile`
    runs after both, while their sessions still hold what they created."""
    split_table(m, table)
    node = next(n for n in m.nodes() if n["id"] == 1)
    via = m.connect()
    via.autocommit = True
    direct = m.connect_node(node)
    direct.autocommit = True
    try:
        direct.cursor().execute(f"CREATE TABLE {table}_plain (id int PRIMARY KEY, v int); INSERT INTO "
                                f"{table}_plain VALUES " + ", ".join(f"({i}, {i})" for i in IDS))
        got = run(via, script, table)
        want = run(direct, script, f"{table}_plain")
        meanwhile()
    finally:
        via.close()
        direct.close()
    for g, w in zip(got, want):
        assert g == w
    assert len(got) == len(want)
    assert all(node_sql(m, n, "SELECT count(*) FROM pg_prepared_xacts")[0][0] == 0 for n in (1, 2, 3))


def test_temporary_tables_in_session_pooling_answer_as_postgresql(session_mosaic):
    m = session_mosaic
    differential(m, "temp_split", SESSION_SCRIPT)
    # The query pattern monitor sees the split table's statements, not the temporary tables'.
    deadline = time.monotonic() + 20
    seen = ""
    while "temp_split" not in seen and time.monotonic() < deadline:
        status, body = m.admin_get_json("/api/v1/patterns?tenant=(implicit)")
        assert status == 200, body
        seen = json.dumps(body)
        time.sleep(0.2)
    assert "temp_split" in seen and '"stage"' not in seen and '"s2"' not in seen, seen[:3000]


VIEWS_AND_SEQUENCES = [
    "CREATE TEMP TABLE tq (id serial, v int)",
    "INSERT INTO tq (v) VALUES (10), (20) RETURNING id",
    # Other DDL while the session has a temporary sequence (tq's serial): it runs on every node in
    # a two-phase commit, and so does what stripes new sequences over the nodes.
    "CREATE TABLE {t}_more (id serial)",
    "DROP TABLE {t}_more",
    "CREATE TEMP VIEW tqv AS SELECT id, v * 2 AS w FROM tq",
    "CREATE VIEW tqv2 AS SELECT id FROM tq WHERE v > 10",  # temporary: it reads a temporary table
    "SELECT * FROM tqv ORDER BY id",
    "SELECT * FROM tqv2",
    "CREATE TEMP SEQUENCE tqs START 7",
    "SELECT nextval('tqs'), nextval('tqs')",
    "ALTER SEQUENCE tqs RESTART WITH 100",
    "BEGIN",
    "SELECT id, v FROM {t} WHERE id = 2500",
    "SELECT nextval('tqs')",
    "SELECT count(*) FROM tqv",
    "COMMIT",
    "CREATE OR REPLACE TEMP VIEW tqv AS SELECT id, v * 3 AS w FROM tq",
    "SELECT * FROM tqv ORDER BY id",
    "DROP VIEW tqv2",
    "DROP VIEW tqv",
    "DROP SEQUENCE tqs",
    "SELECT * FROM tqv",
    "SELECT nextval('tqs')",
    "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() ORDER BY 1",
]


def test_temporary_views_and_sequences_answer_as_postgresql(session_mosaic):
    # On the binary before this test every step from the temporary view on failed ("cannot
    # PREPARE a transaction that has operated on temporary objects", then 42P01), and so did the
    # CREATE TABLE after a temporary serial column, also another client's.
    m = session_mosaic

    def other_clients_ddl():  # while this client has a temporary sequence on the default node
        other = m.connect()
        other.autocommit = True
        try:
            other.cursor().execute("CREATE TABLE temp_views_other (id serial, v int)")
        finally:
            other.close()

    differential(m, "temp_views", VIEWS_AND_SEQUENCES, other_clients_ddl)


def test_what_temporary_tables_cannot_do_is_refused_and_changes_nothing(session_mosaic):
    m = session_mosaic
    split_table(m, "temp_refused")
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()

    def fails(sql, code, words=""):
        with pytest.raises(psycopg2.Error) as e:
            cur.execute(sql)
        assert e.value.pgcode == code, (sql, e.value.pgcode, str(e.value))
        assert words in str(e.value), str(e.value)

    try:
        # It would hide the split table of that name (PostgreSQL looks in pg_temp first).
        fails("CREATE TEMP TABLE temp_refused (a int)", "0A000", "would hide")
        cur.execute("CREATE TEMP TABLE st (id int, v int)")
        cur.execute("INSERT INTO st VALUES (600, 1), (1600, 2)")
        # Rows of other nodes with a temporary table in one statement.
        fails("SELECT * FROM temp_refused JOIN st USING (id)", "0A000", 'temporary table "st", which lives on node 1')
        fails("UPDATE temp_refused t SET v = st.v FROM st WHERE t.id = st.id", "0A000", "temporary table")
        fails("DROP TABLE st, temp_refused", "0A000", "temporary tables and tables Mosaic routes")
        # A temporary view is read on the default node: of a split table it would see a part.
        fails("CREATE TEMP VIEW tv AS SELECT * FROM temp_refused", "0A000", "temporary view lives on the default node")
        fails("CREATE VIEW tv AS SELECT * FROM temp_refused JOIN st USING (id)", "0A000",
              "temporary view lives on the default node")
        fails("CREATE TEMP VIEW temp_refused AS SELECT 1", "0A000", "would hide")
        # (A block that touched them and wrote rows on the default node and another one commits
        # with the default node last: test_last_resource.py.)
    finally:
        c.close()
    # Another client does not see them.
    other = m.connect()
    other.autocommit = True
    try:
        with pytest.raises(psycopg2.errors.UndefinedTable):
            other.cursor().execute("SELECT * FROM st")
    finally:
        other.close()


def test_temporary_tables_over_the_extended_protocol(session_mosaic):
    # As JDBC and psycopg 3 send statements: unnamed Parse, Bind, Execute, Sync.
    m = session_mosaic
    split_table(m, "temp_extended")
    w = PgConn(m.host, m.port)
    try:
        w.startup()
        for sql, params, tag in [
            ("CREATE TEMP TABLE xt (id int, v int)", (), "CREATE TABLE"),
            ("INSERT INTO xt VALUES ($1, $2)", ("900", "9"), "INSERT 0 1"),
            ("INSERT INTO xt VALUES ($1, $2)", ("2900", "29"), "INSERT 0 1"),
            ("INSERT INTO temp_extended SELECT id, v FROM xt", (), "INSERT 0 2"),
        ]:
            r = w.extended(sql, params)
            assert r.errors == [] and r.tags == [tag], (sql, r.errors, r.tags)
        r = w.extended("SELECT id, v FROM xt WHERE id > $1 ORDER BY id", ("0",))
        assert r.rows == [["900", "9"], ["2900", "29"]], (r.errors, r.rows)
        r = w.simple("SELECT id FROM temp_extended ORDER BY id")
        assert [row[0] for row in r.rows] == ["500", "900", "1500", "2500", "2900"], r.rows
        r = w.extended("DROP TABLE xt")
        assert r.errors == [] and r.tags == ["DROP TABLE"], r.errors
        r = w.extended("SELECT * FROM xt")
        assert [e["C"] for e in r.errors] == ["42P01"], r.errors
    finally:
        w.close()


def test_transaction_pooling_takes_temporary_tables_dropped_at_commit(mosaic, table_name):
    split_table(mosaic, table_name)
    c = mosaic.connect()
    cur = c.cursor()
    try:
        c.autocommit = True
        # It would outlive the transaction on a server connection any client gets next.
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match="ON COMMIT DROP"):
            cur.execute("CREATE TEMP TABLE kept (a int)")
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match="view or sequence outlives"):
            cur.execute("CREATE TEMP SEQUENCE kept")
        c.autocommit = False
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match="ON COMMIT DROP"):
            cur.execute("CREATE TEMP TABLE kept (a int)")
        c.rollback()
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match="view or sequence outlives"):
            cur.execute("CREATE TEMP VIEW kept AS SELECT 1")
        c.rollback()
        # The bulk-load pattern: stage rows, then move them into the split table.
        cur.execute("CREATE TEMP TABLE stage (id int, v int) ON COMMIT DROP")
        cur.copy_expert("COPY stage FROM STDIN", io.StringIO("1100\t1\n2100\t2\n2200\t3\n"))
        cur.execute(f"INSERT INTO {table_name} SELECT id, v FROM stage")
        cur.execute(f"UPDATE {table_name} SET v = v + 1 WHERE id = 1100")
        cur.execute("SELECT count(*) FROM stage")
        assert cur.fetchone()[0] == 3
        c.commit()
        cur.execute(f"SELECT id, v FROM {table_name} ORDER BY id")
        assert cur.fetchall() == [(500, 500), (1100, 2), (1500, 1500), (2100, 2), (2200, 3), (2500, 2500)]
        with pytest.raises(psycopg2.errors.UndefinedTable):
            cur.execute("SELECT * FROM stage")
        c.rollback()
    finally:
        c.close()
