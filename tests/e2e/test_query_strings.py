"""Query strings of several statements whose rows are on different nodes ("INSERT ...; UPDATE
...", node-postgres' `client.query("BEGIN; ...; COMMIT")`, `psql -c`). PostgreSQL runs them in
turn in one transaction (unless the string opens one), stops at the first error and answers
with one ReadyForQuery; Mosaic runs each statement on its nodes in turn, the same way. On the
binary before this test every such string was refused with 0A000 ("supported only when they all
run on one node").

Differential: every string runs through Mosaic (a table split over 3 nodes) and on node 1
directly (the same rows in a plain table); the replies (command tags, rows, SQLSTATEs,
transaction status) must match, and so must the rows after each string.
"""

import pytest

from harness import Mosaic, serving
from pgwire import PgConn
from test_deadlock import node_sql
from test_temp_tables import IDS, split_table  # one row on each node of split_by_id's ranges

STRINGS = [
    "SELECT id, v FROM {t} WHERE id = 500; SELECT id, v FROM {t} WHERE id = 2500",
    # Writes on two nodes, then a read of all of them: one transaction.
    "INSERT INTO {t} VALUES (600, 6); INSERT INTO {t} VALUES (2600, 26); SELECT count(*), sum(v) FROM {t}",
    # A duplicate key on node 3 after a row written on node 1: neither lands.
    "INSERT INTO {t} VALUES (700, 7); INSERT INTO {t} VALUES (2600, 0); INSERT INTO {t} VALUES (1700, 17)",
    "SELECT id FROM {t} ORDER BY id",
    # An error stops the string: what follows does not run, what came before rolls back.
    "UPDATE {t} SET v = v + 1 WHERE id = 600; SELECT 1 / 0; UPDATE {t} SET v = v + 1 WHERE id = 2600",
    "SELECT id, v FROM {t} ORDER BY id",
    # The string's own block, committed.
    "BEGIN; UPDATE {t} SET v = v * 10 WHERE id = 600; UPDATE {t} SET v = v * 10 WHERE id = 2600; COMMIT",
    "SELECT id, v FROM {t} ORDER BY id",
    # Opened and left open: the next strings run in it.
    "BEGIN; DELETE FROM {t} WHERE id = 600; UPDATE {t} SET v = 0 WHERE id = 2600 RETURNING id, v",
    "SELECT id, v FROM {t} WHERE id = 600; SELECT id, v FROM {t} WHERE id = 2600",
    "ROLLBACK",
    "SELECT id, v FROM {t} ORDER BY id",
    # In a block the client opened: the string ends it.
    "BEGIN",
    "UPDATE {t} SET v = -1 WHERE id = 500; UPDATE {t} SET v = -3 WHERE id = 2500; COMMIT",
    "SELECT id, v FROM {t} ORDER BY id",
    # An error in the client's block leaves it aborted, as PostgreSQL does.
    "BEGIN",
    "UPDATE {t} SET v = 1 WHERE id = 500; SELECT 1 / 0; UPDATE {t} SET v = 3 WHERE id = 2500",
    "SELECT 1",
    "ROLLBACK",
    # Statements over several nodes in the string (merged, written on all of them).
    "UPDATE {t} SET v = v + 100; SELECT sum(v), count(*) FROM {t}; DELETE FROM {t} WHERE id > 2000 RETURNING id",
    "SELECT id, v FROM {t} ORDER BY id",
    # A syntax error anywhere: nothing of the string runs.
    "DELETE FROM {t} WHERE id = 500; SELEC 1; DELETE FROM {t} WHERE id = 1500",
    "SELECT id, v FROM {t} ORDER BY id",
    # Settings inside a block reach every node of it; one not LOCAL outlives the block.
    "BEGIN; SET LOCAL work_mem = '7MB'; SELECT id, current_setting('work_mem') FROM {t} WHERE id = 500; "
    "SELECT id, current_setting('work_mem') FROM {t} WHERE id = 1500; COMMIT",
    "BEGIN; SET statement_timeout = '5s'; SELECT set_config('app.who', 'strings', true); "
    "SELECT id, current_setting('statement_timeout'), current_setting('app.who') FROM {t} WHERE id = 500; "
    "SELECT id, current_setting('statement_timeout'), current_setting('app.who') FROM {t} WHERE id = 1500; COMMIT",
    "SELECT id, current_setting('statement_timeout'), current_setting('work_mem') FROM {t} WHERE id = 1500",
    "SELECT current_setting('statement_timeout'), current_setting('work_mem')",
    # Empty statements between them.
    ";SELECT id FROM {t} WHERE id = 500;; SELECT id FROM {t} WHERE id = 1500;",
    # Settings outside a block: the string's implicit transaction. They reach the string's later
    # statements on every node; a session-level one outlives the string when it commits...
    "SET work_mem = '9MB'; SELECT id, current_setting('work_mem') FROM {t} WHERE id = 500; "
    "SELECT id, current_setting('work_mem') FROM {t} WHERE id = 2500",
    "SELECT id, current_setting('work_mem') FROM {t} WHERE id = 1500",
    "SELECT current_setting('work_mem')",
    "SELECT id FROM {t} WHERE id = 2500; SET statement_timeout = '7s'; SELECT count(*), max(current_setting('statement_timeout')) FROM {t}",
    "SELECT id, current_setting('statement_timeout') FROM {t} WHERE id = 500",
    # ... and is undone with it when a statement of it fails.
    "SET work_mem = '10MB'; SELECT id, current_setting('work_mem') FROM {t} WHERE id = 500; SELECT 1 / 0; "
    "SELECT id FROM {t} WHERE id = 2500",
    "SELECT id, current_setting('work_mem') FROM {t} WHERE id = 2500",
    "UPDATE {t} SET v = v + 1 WHERE id = 500; SET statement_timeout = '8s'; UPDATE {t} SET v = v + 1 WHERE id = 2500; "
    "INSERT INTO {t} VALUES (500, 0)",
    "SELECT id, v, current_setting('statement_timeout') FROM {t} ORDER BY id",
    # SET LOCAL lasts to the end of the string.
    "SET LOCAL work_mem = '11MB'; SELECT id, current_setting('work_mem') FROM {t} WHERE id = 500; "
    "SELECT id, current_setting('work_mem') FROM {t} WHERE id = 1500",
    "SELECT id, current_setting('work_mem') FROM {t} WHERE id = 1500",
    # set_config, local and not.
    "SELECT set_config('app.who', 'string', false); SELECT set_config('app.what', 'local', true); "
    "SELECT id, current_setting('app.who'), current_setting('app.what') FROM {t} WHERE id = 2500; "
    "SELECT id, current_setting('app.who'), current_setting('app.what') FROM {t} WHERE id = 500",
    # (only app.who afterwards: a node never given app.what reads it as NULL, one that had it as '')
    "SELECT id, current_setting('app.who') FROM {t} WHERE id = 1500",
    # set_config in the client's block, session-level: it outlives the block on every node.
    "BEGIN",
    "SELECT set_config('app.who', 'block', false); SELECT id FROM {t} WHERE id = 500",
    "COMMIT",
    "SELECT id, current_setting('app.who') FROM {t} ORDER BY id",
    "RESET ALL; SELECT id, current_setting('work_mem'), current_setting('statement_timeout') FROM {t} ORDER BY id",
]


@pytest.fixture(scope="module")
def strings_mosaic():
    with serving(Mosaic(nodes=3, name="strings")) as m:
        yield m


def replies(conn, sql):
    r = conn.simple(sql)
    return (r.tags, r.rows, [e["C"] for e in r.errors], r.status)


def answers_as_postgresql(m, table, script):
    """Runs each of `script`'s query strings ({t}: the table) through Mosaic on `table` split over
    3 nodes, and on node 1 directly on a plain table of the same rows; their replies (tags, rows,
    SQLSTATEs, transaction status) must match."""
    split_table(m, table)
    node = next(n for n in m.nodes() if n["id"] == 1)
    direct = m.connect_node(node)
    direct.autocommit = True
    direct.cursor().execute(f"CREATE TABLE {table}_plain (id int PRIMARY KEY, v int); INSERT INTO {table}_plain "
                            "VALUES " + ", ".join(f"({i}, {i})" for i in IDS))
    direct.close()
    via, plain = PgConn(m.host, m.port), PgConn(node["host"], node["port"])
    try:
        via.startup()
        plain.startup(user=node["user"], database=node["dbname"])
        for sql in script:
            assert replies(via, sql.format(t=table)) == replies(plain, sql.format(t=f"{table}_plain")), sql
    finally:
        via.close()
        plain.close()
    assert all(node_sql(m, n, "SELECT count(*) FROM pg_prepared_xacts")[0][0] == 0 for n in (1, 2, 3))


def test_strings_over_several_nodes_answer_as_postgresql(strings_mosaic):
    answers_as_postgresql(strings_mosaic, "strings_split", STRINGS)


def test_what_cannot_run_apart_is_refused_and_runs_nothing(strings_mosaic):
    m = strings_mosaic
    split_table(m, "strings_refused")
    c = PgConn(m.host, m.port)
    try:
        c.startup()
        for sql, words in [
            ("UPDATE strings_refused SET v = 0 WHERE id = 500; EXPLAIN SELECT * FROM strings_refused WHERE id = 2500",
             "EXPLAIN SELECT"),
            ("UPDATE strings_refused SET v = 0 WHERE id = 500; BEGIN; UPDATE strings_refused SET v = 0 WHERE id = 2500",
             "BEGIN"),
            ("UPDATE strings_refused SET v = 0 WHERE id = 500; COPY strings_refused TO STDOUT", "COPY"),
            ("UPDATE strings_refused SET v = 0; COMMIT", "COMMIT"),  # not a block the string or client opened
        ]:
            r = c.simple(sql)
            assert [e["C"] for e in r.errors] == ["0A000"] and words in r.errors[0]["M"], (sql, r.errors)
            assert r.status == "I" and r.tags == []
        r = c.simple("SELECT id, v FROM strings_refused ORDER BY id")
        assert r.rows == [[str(i), str(i)] for i in IDS]
    finally:
        c.close()


def test_psql_c_with_statements_on_several_nodes(strings_mosaic):
    # psql -c sends its argument as one query string.
    m = strings_mosaic
    split_table(m, "strings_psql")
    r = m.psql("INSERT INTO strings_psql VALUES (800, 8); INSERT INTO strings_psql VALUES (2800, 28); "
               "SELECT id, v FROM strings_psql WHERE id IN (800, 2800) ORDER BY id")
    assert r.returncode == 0 and r.stdout.split() == ["800|8", "2800|28"], r.stdout + r.stderr
    # The duplicate key on node 3 rolls back the row of node 1 too.
    r = m.psql("INSERT INTO strings_psql VALUES (900, 9); INSERT INTO strings_psql VALUES (2800, 0)")
    assert r.returncode != 0 and "duplicate key" in r.stderr, r.stdout + r.stderr
    r = m.psql("SELECT id FROM strings_psql WHERE id IN (900, 2800)")
    assert r.returncode == 0 and r.stdout.split() == ["2800"], r.stdout + r.stderr
