"""INSERT ... SELECT run through Mosaic (the SELECT first, then its rows as INSERT ... VALUES
batches of 1000 rows) over 3 nodes: many rows land where their ranges are, a failure in a later
batch leaves nothing of the earlier ones (outside and inside a transaction block), and the
extended query protocol refuses it with 0A000. tests/sql/11_insert_select.test compares the
answers with plain PostgreSQL.
"""

import psycopg2
import psycopg2.errors
import pytest

from pgwire import PgConn, bind_msg, execute_msg, parse_msg, query_msg, sync_msg

ROWS = 2500  # three batches


@pytest.fixture
def split_table(mosaic, table_name):
    """Tenant 2 whole on its home node with ROWS rows; tenant 1 split on id over the 3 nodes."""
    c = mosaic.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute(f"CREATE TABLE {table_name} (tenant_id int NOT NULL, id int NOT NULL, v text, "
                f"PRIMARY KEY (tenant_id, id))")
    layout = {"table": table_name, "tenant": "1", "column": "id",
              "ranges": [{"upper": "1000", "node": 1}, {"upper": "2000", "node": 2}, {"node": 3}]}
    mosaic.admin_post("/api/v1/layout", layout)
    cur.execute(f"INSERT INTO {table_name} SELECT 2, g, 'v' || g FROM generate_series(1, {ROWS}) g")
    assert cur.statusmessage == f"INSERT 0 {ROWS}"
    yield c, table_name
    cur.execute(f"DROP TABLE {table_name}")
    c.close()


def tenant_one_on_nodes(mosaic, table):
    counts = []
    for node in sorted(mosaic.nodes(), key=lambda n: n["id"]):
        n = mosaic.connect_node(node)
        try:
            cur = n.cursor()
            cur.execute(f"SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM {table} WHERE tenant_id = 1")
            counts.append(cur.fetchone())
        finally:
            n.close()
    return counts


def test_many_rows_land_in_their_ranges(mosaic, split_table):
    c, table = split_table
    cur = c.cursor()
    cur.execute(f"INSERT INTO {table} SELECT 1, id, v FROM {table} WHERE tenant_id = 2")
    assert cur.statusmessage == f"INSERT 0 {ROWS}"
    assert tenant_one_on_nodes(mosaic, table) == [(999, 1, 999), (1000, 1000, 1999), (501, 2000, 2500)]
    cur.execute(f"SELECT count(*), sum(length(v)) FROM {table} WHERE tenant_id = 1")
    cur2 = c.cursor()
    cur2.execute(f"SELECT count(*), sum(length(v)) FROM {table} WHERE tenant_id = 2")
    assert cur.fetchone() == cur2.fetchone()


def test_failure_in_a_later_batch_leaves_nothing(mosaic, split_table):
    c, table = split_table
    cur = c.cursor()
    cur.execute(f"INSERT INTO {table} VALUES (1, 5000, 'there')")
    # Ids 1..2500 of tenant 1 go to all three nodes in batches of 1000; the third batch also
    # holds (1, 5000), which exists on node 3.
    failing = (f"INSERT INTO {table} SELECT 1, id, v FROM {table} WHERE tenant_id = 2 "
               f"UNION ALL SELECT 1, 5000, 'again'")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        cur.execute(failing)
    assert tenant_one_on_nodes(mosaic, table) == [(0, 0, 0), (0, 0, 0), (1, 5000, 5000)]

    c.autocommit = False
    cur.execute("SELECT 1")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        cur.execute(failing)
    c.rollback()
    c.autocommit = True
    assert tenant_one_on_nodes(mosaic, table) == [(0, 0, 0), (0, 0, 0), (1, 5000, 5000)]


def test_extended_protocol_is_refused(mosaic, split_table):
    c, table = split_table
    w = PgConn(mosaic.host, mosaic.port)
    try:
        w.startup()
        w.send(parse_msg("", f"INSERT INTO {table} SELECT 1, id, v FROM {table} WHERE tenant_id = 2")
               + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert [e["C"] for e in r.errors] == ["0A000"], r.errors
        assert "simple query" in r.errors[0]["M"]
        # One tenant, not split, read and written on its node: runs as it is.
        w.send(parse_msg("", f"INSERT INTO {table} SELECT tenant_id, id + {ROWS}, v FROM {table} WHERE tenant_id = 2")
               + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert r.errors == [] and r.tags == [f"INSERT 0 {ROWS}"]
        w.send(query_msg(f"SELECT count(*) FROM {table}"))
        r = w.read_until_ready()
        assert r.rows == [[str(2 * ROWS)]]
    finally:
        w.close()
