"""psql (and a little psycopg2) against the shared Mosaic: basics, errors, DDL broadcast."""

import psycopg2
import pytest

import pgwire


def test_select_1(mosaic):
    r = mosaic.psql("select 1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"


def test_create_insert_select_roundtrip(mosaic, table_name):
    r = mosaic.psql(f"CREATE TABLE {table_name} (id int primary key, name text)")
    assert r.returncode == 0, r.stderr
    r = mosaic.psql(f"INSERT INTO {table_name} VALUES (1, 'one'), (2, 'two'), (3, NULL)")
    assert r.returncode == 0, r.stderr
    r = mosaic.psql(f"SELECT id, coalesce(name, '<null>') FROM {table_name} ORDER BY id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == ["1|one", "2|two", "3|<null>"]
    r = mosaic.psql(f"UPDATE {table_name} SET name = 'deux' WHERE id = 2")
    assert r.returncode == 0, r.stderr
    r = mosaic.psql(f"DELETE FROM {table_name} WHERE id = 1")
    assert r.returncode == 0, r.stderr
    r = mosaic.psql(f"SELECT string_agg(id || ':' || coalesce(name, '-'), ',' ORDER BY id) FROM {table_name}")
    assert r.stdout.strip() == "2:deux,3:-"


def test_syntax_error_sqlstate_psql(mosaic):
    # psql script: error in the middle, then a query on the same session
    script = "\\set VERBOSITY verbose\nselec 1;\nselect 'still alive ' || 40 + 2;\n"
    r = mosaic.psql(None, args=["-v", "ON_ERROR_STOP=0"], input=script)
    assert "42601" in r.stderr, r.stderr
    assert "syntax error" in r.stderr
    assert "still alive 42" in r.stdout, (r.stdout, r.stderr)


def test_syntax_error_sqlstate_same_connection(conn):
    cur = conn.cursor()
    with pytest.raises(psycopg2.Error) as ei:
        cur.execute("SELEC 1")
    assert ei.value.pgcode == "42601"
    conn.rollback()
    cur.execute("SELECT 41 + 1")
    assert cur.fetchone() == (42,)
    # and once more inside an explicit transaction: the error aborts it, then recovery
    cur.execute("SELECT 1")
    with pytest.raises(psycopg2.Error) as ei:
        cur.execute("SELECT * FROM")
    assert ei.value.pgcode == "42601"
    with pytest.raises(psycopg2.Error) as ei:
        cur.execute("SELECT 1")
    assert ei.value.pgcode == "25P02"  # in failed sql transaction
    conn.rollback()
    cur.execute("SELECT 'ok'")
    assert cur.fetchone() == ("ok",)


def _tables_on(mosaic, node, name):
    c = mosaic.connect_node(node)
    try:
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = %s",
                    (name,))
        return cur.fetchone()[0]
    finally:
        c.close()


def test_ddl_on_all_nodes_rows_on_node1(mosaic, table_name):
    nodes = sorted(mosaic.nodes(), key=lambda n: n["id"])
    assert [n["id"] for n in nodes] == [1, 2, 3]
    assert all(n["state"] == "up" for n in nodes), nodes
    r = mosaic.psql(f"CREATE TABLE {table_name} (id int, v text)")
    assert r.returncode == 0, r.stderr
    r = mosaic.psql(f"INSERT INTO {table_name} SELECT g, 'v' || g FROM generate_series(1, 25) g")
    assert r.returncode == 0, r.stderr
    for n in nodes:
        assert _tables_on(mosaic, n, table_name) == 1, f"table missing on node {n['id']}"
    counts = {}
    for n in nodes:
        c = mosaic.connect_node(n)
        cur = c.cursor()
        cur.execute(f"SELECT count(*) FROM {table_name}")
        counts[n["id"]] = cur.fetchone()[0]
        c.close()
    assert counts == {1: 25, 2: 0, 3: 0}
    # ALTER and DROP are broadcast too
    r = mosaic.psql(f"ALTER TABLE {table_name} ADD COLUMN extra int DEFAULT 7")
    assert r.returncode == 0, r.stderr
    for n in nodes:
        c = mosaic.connect_node(n)
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM information_schema.columns "
                    "WHERE table_name = %s AND column_name = 'extra'", (table_name,))
        assert cur.fetchone()[0] == 1, f"ALTER missing on node {n['id']}"
        c.close()
    r = mosaic.psql(f"SELECT sum(extra) FROM {table_name}")
    assert r.stdout.strip() == str(7 * 25)
    r = mosaic.psql(f"DROP TABLE {table_name}")
    assert r.returncode == 0, r.stderr
    for n in nodes:
        assert _tables_on(mosaic, n, table_name) == 0, f"DROP missing on node {n['id']}"


def test_begin_insert_rollback_leaves_nothing(mosaic, table_name):
    assert mosaic.psql(f"CREATE TABLE {table_name} (id int)").returncode == 0
    r = mosaic.psql(None, input=f"BEGIN;\nINSERT INTO {table_name} VALUES (1), (2);\n"
                                f"SELECT count(*) FROM {table_name};\nROLLBACK;\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"  # visible inside the transaction
    r = mosaic.psql(f"SELECT count(*) FROM {table_name}")
    assert r.stdout.strip() == "0"
    # same in one simple-query string
    r = mosaic.psql(f"BEGIN; INSERT INTO {table_name} VALUES (3); ROLLBACK")
    assert r.returncode == 0, r.stderr
    r = mosaic.psql(f"SELECT count(*) FROM {table_name}")
    assert r.stdout.strip() == "0"
    node1 = [n for n in mosaic.nodes() if n["id"] == 1][0]
    c = mosaic.connect_node(node1)
    cur = c.cursor()
    cur.execute(f"SELECT count(*) FROM {table_name}")
    assert cur.fetchone()[0] == 0
    c.close()


def test_transaction_block_ddl_in_one_string(mosaic, table_name):
    r = mosaic.psql(f"BEGIN; CREATE TABLE {table_name} (a int); COMMIT")
    assert r.returncode == 0, r.stderr
    for n in mosaic.nodes():
        assert _tables_on(mosaic, n, table_name) == 1, f"table missing on node {n['id']}"
    r = mosaic.psql(f"INSERT INTO {table_name} VALUES (5); SELECT sum(a) FROM {table_name}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "5"


def test_mixed_ddl_and_dml(conn, mosaic, table_name):
    # DDL with other statements in one string runs in turn, in one transaction, the DDL on
    # every node (tests/e2e/test_ddl_in_transactions.py has more).
    r = mosaic.psql(f"CREATE TABLE {table_name}(a int); INSERT INTO {table_name} VALUES (1); "
                    f"SELECT count(*) FROM {table_name}")
    assert r.returncode == 0 and r.stdout.split() == ["1"], r.stdout + r.stderr
    for n in mosaic.nodes():
        assert _tables_on(mosaic, n, table_name) == 1, f"node {n['id']}"
    # Temporary tables' DDL with other statements is refused, and nothing of it runs.
    cur = conn.cursor()
    with pytest.raises(psycopg2.Error) as ei:
        cur.execute(f"CREATE TEMP TABLE {table_name}_t(a int); INSERT INTO {table_name}_t VALUES (1)")
    assert ei.value.pgcode == "0A000", ei.value.pgerror
    conn.rollback()
    for n in mosaic.nodes():
        assert _tables_on(mosaic, n, f"{table_name}_t") == 0, f"partial effect on node {n['id']}"
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    # psql reports the same SQLSTATE
    r = mosaic.psql(f"CREATE TEMP TABLE {table_name}_t(a int); INSERT INTO {table_name}_t VALUES (1)",
                    args=["-v", "VERBOSITY=verbose"])
    assert r.returncode != 0
    assert "0A000" in r.stderr, r.stderr


def test_unknown_database(mosaic):
    r = mosaic.psql("select 1", dbname="no_such_db")
    assert r.returncode != 0
    assert "no_such_db" in r.stderr and "does not exist" in r.stderr, r.stderr
    # psql does not print the SQLSTATE of a startup failure: check it on the wire
    c = pgwire.PgConn(mosaic.host, mosaic.port)
    try:
        with pytest.raises(pgwire.ServerError) as ei:
            c.startup(database="no_such_db")
        assert ei.value.sqlstate == "3D000"
        assert ei.value.severity == "FATAL"
        assert c.wait_closed(5)
    finally:
        c.close()


def test_multiple_statements_one_string(mosaic, table_name):
    assert mosaic.psql(f"CREATE TABLE {table_name} (a int)").returncode == 0
    # several DML/SELECT statements in one simple query run in order, as one implicit
    # transaction (an error rolls the whole string back)
    r = mosaic.psql(f"INSERT INTO {table_name} VALUES (1); INSERT INTO {table_name} VALUES (2); "
                    f"SELECT sum(a) FROM {table_name}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"
    r = mosaic.psql(f"INSERT INTO {table_name} VALUES (10); SELECT 1/0")
    assert r.returncode != 0 and "division by zero" in r.stderr
    r = mosaic.psql(f"SELECT sum(a) FROM {table_name}")
    assert r.stdout.strip() == "3", "the failed string's INSERT was not rolled back"
