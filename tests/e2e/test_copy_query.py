"""COPY (query) TO STDOUT whose query reads rows on several nodes (psql's `\\copy (SELECT ...) TO
file`, a filtered or sorted export). Refused with 0A000 before this test; now Mosaic has one node
check the options and begin the copy, runs the query as a merged SELECT, and writes its rows as
COPY's text or CSV lines.

Differential: every COPY runs through Mosaic on a table split over 3 nodes and on node 1
directly on a plain table of the same rows (same name length, so error positions compare); the
bytes copied out, or the errors (SQLSTATE, message, position), must be equal.
"""

import io
import os
import tempfile

import psycopg2
import pytest

from harness import Mosaic, serving

ROWS = [  # id (100-999 node 1, 1000-1999 node 2, the rest node 3), g, v, n, d
    (100, 1, "plain", "1.50", "2024-01-31"),
    (250, 2, "tab\there", "-2", None),
    (900, 1, "line\nbreak and \\ backslash", None, "2024-02-29"),
    (1000, 3, 'say "hi", then go', "0.001", "1999-12-31"),
    (1200, 2, "", "10", "2000-01-01"),
    (1500, 3, None, "7.25", "2024-03-01"),
    (1999, 1, "\\.", "3", "2024-03-02"),
    (2000, 2, "semi;colon|pipe", "100", "2024-03-03"),
    (2500, 3, "été ünïcode", "-0.5", "2024-03-04"),
    (3000, 1, "cr\rlf\r\n", "42", "2024-03-05"),
    (3500, 2, "NULL", "1e3", "2024-03-06"),
    (4000, 3, "it's", "0", "2024-03-07"),
]

SCHEMA = "CREATE TABLE {t} (id int PRIMARY KEY, g int NOT NULL, v text, n numeric, d date)"
COPIES = [
    "COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT",
    "COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)",
    "COPY (SELECT id, v, n FROM {t} WHERE id > 200 ORDER BY id DESC) TO STDOUT (FORMAT text, HEADER true)",
    "COPY (SELECT id, v, d FROM {t} ORDER BY id) TO STDOUT (FORMAT csv, FORCE_QUOTE *, DELIMITER ';', "
    "NULL 'NULL', QUOTE '''', ESCAPE '\\')",
    "COPY (SELECT id, v AS \"Quoted Col\", n FROM {t} ORDER BY id) TO STDOUT (FORMAT csv, FORCE_QUOTE (\"Quoted Col\"), HEADER)",
    "COPY (SELECT g, count(*), sum(n), min(d), max(v) FROM {t} GROUP BY g ORDER BY g) TO STDOUT WITH CSV HEADER DELIMITER '|'",
    "COPY (SELECT v FROM {t} ORDER BY id) TO STDOUT CSV",  # one column: "\\." is quoted
    "COPY (SELECT id, v FROM {t} WHERE id IN (100, 2500) ORDER BY id LIMIT 5) TO STDOUT (DELIMITER ',', NULL '')",
    "COPY (SELECT DISTINCT g FROM {t} ORDER BY 1) TO STDOUT",
    "copy ( select id , n * 2 as twice from {t} where n is not null order by twice , id ) to stdout",
    # Errors: the same SQLSTATE, message and position as PostgreSQL's.
    "COPY (SELECT nope FROM {t}) TO STDOUT",
    "COPY (SELECT id FROM {t}) TO STDOUT (FORMAT csv, FORCE_QUOTE (nope))",
    "COPY (SELECT id FROM {t}) TO STDOUT (DELIMITER 'ab')",
    "COPY (SELECT id FROM {t}) TO STDOUT (FORMAT text, QUOTE '\"')",
    "COPY (SELECT id FROM {t}) TO STDOUT (FORMAT csv, DELIMITER ',', QUOTE ',')",
    "COPY (SELECT id, 1 / (id - 1500) FROM {t} ORDER BY id) TO STDOUT",
]


@pytest.fixture(scope="module")
def copy_mosaic():
    with serving(Mosaic(nodes=3, name="copyq")) as m:
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(ROWS))
        flat = [x for row in ROWS for x in row]
        c = m.connect()
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute(SCHEMA.format(t="copyq_mos"))
            m.split_by_id("copyq_mos", None)
            cur.execute(f"INSERT INTO copyq_mos VALUES {values}", flat)
        c.close()
        m.node1 = next(n for n in m.nodes() if n["id"] == 1)
        d = m.connect_node(m.node1)
        d.autocommit = True
        with d.cursor() as cur:
            cur.execute(SCHEMA.format(t="copyq_pln"))
            cur.execute(f"INSERT INTO copyq_pln VALUES {values}", flat)
            cur.execute("SELECT count(*) FROM copyq_mos")  # node 1's part only
            assert cur.fetchone()[0] < len(ROWS)
        d.close()
        yield m


def copied(conn, sql):
    """The bytes `sql` copies out, or its error (SQLSTATE, message, position); the session must
    go on after it."""
    buf = io.BytesIO()
    cur = conn.cursor()
    try:
        cur.copy_expert(sql, buf)
        out = ("ok", buf.getvalue(), cur.rowcount)
    except psycopg2.Error as e:
        out = ("error", e.pgcode, e.diag.message_primary, e.diag.statement_position)
    cur.execute("SELECT 1")
    assert cur.fetchall() == [(1,)]
    return out


@pytest.mark.parametrize("sql", COPIES)
def test_copy_of_a_query_over_several_nodes_as_postgresql(copy_mosaic, sql):
    m = copy_mosaic
    via, direct = m.connect(), m.connect_node(m.node1)
    via.autocommit = direct.autocommit = True
    try:
        got, want = copied(via, sql.format(t="copyq_mos")), copied(direct, sql.format(t="copyq_pln"))
        assert got == want
        if want[0] == "ok":
            assert want[1] and want[2] > 0
    finally:
        via.close()
        direct.close()


def test_unordered_copy_has_every_row_once(copy_mosaic):
    m = copy_mosaic
    via, direct = m.connect(), m.connect_node(m.node1)
    via.autocommit = direct.autocommit = True
    try:
        sql = "COPY (SELECT id, v FROM {t} WHERE g <> 2) TO STDOUT (FORMAT csv)"
        got, want = copied(via, sql.format(t="copyq_mos")), copied(direct, sql.format(t="copyq_pln"))
        assert got[0] == want[0] == "ok" and got[2] == want[2]
        # CSV rows may span lines (a quoted newline): compare the parsed records.
        import csv
        rows = lambda b: sorted(csv.reader(io.StringIO(b.decode(), newline="")))
        assert rows(got[1]) == rows(want[1])
    finally:
        via.close()
        direct.close()


def test_copy_in_a_block_sees_its_rows_and_refusals_keep_the_session(copy_mosaic):
    m = copy_mosaic
    c = m.connect()
    cur = c.cursor()
    cur.execute("INSERT INTO copyq_mos VALUES (2222, 9, 'in the block', 1, NULL)")
    buf = io.BytesIO()
    cur.copy_expert("COPY (SELECT id, v FROM copyq_mos WHERE g = 9 OR id = 100 ORDER BY id) TO STDOUT", buf)
    assert buf.getvalue() == b"100\tplain\n2222\tin the block\n"
    c.rollback()
    c.autocommit = True
    for sql, words in [("COPY (SELECT id FROM copyq_mos) TO STDOUT (FORMAT binary)", "binary"),
                       ("COPY (SELECT id FROM copyq_mos) TO STDOUT (ENCODING 'UTF8')", "ENCODING"),
                       ("COPY (SELECT id FROM copyq_mos) TO '/tmp/copyq_never'", "STDOUT only"),
                       ("COPY (DELETE FROM copyq_mos WHERE id > 0 RETURNING id) TO STDOUT", "RETURNING")]:
        with pytest.raises(psycopg2.errors.FeatureNotSupported) as e:
            cur.copy_expert(sql, io.BytesIO())
        assert words in str(e.value)
    cur.execute("SELECT count(*) FROM copyq_mos")
    assert cur.fetchone() == (len(ROWS),)
    c.close()


def test_psql_backslash_copy_of_a_query_to_a_file(copy_mosaic):
    m = copy_mosaic
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, port, host, user, db, table in [
                ("via", m.port, m.host, "mosaic", "mosaic", "copyq_mos"),
                ("direct", m.node1["port"], m.node1["host"], m.node1["user"], m.node1["dbname"], "copyq_pln")]:
            files[name] = os.path.join(tmp, f"{name}.csv")
            r = m.psql(f"\\copy (SELECT id, v, n FROM {table} WHERE n > 0 ORDER BY n, id) TO '{files[name]}' CSV HEADER",
                       port=port, host=host, user=user, dbname=db)
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip() == "" or r.stdout.strip().startswith("COPY")
        with open(files["via"], "rb") as a, open(files["direct"], "rb") as b:
            via, direct = a.read(), b.read()
        assert via == direct and via.count(b"\n") > 5
