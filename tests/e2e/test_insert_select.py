"""INSERT ... SELECT run through Mosaic (the SELECT first, then its rows as INSERT ... VALUES
batches of 1000 rows) over 3 nodes: many rows land where their ranges are, a failure in a later
batch leaves nothing of the earlier ones (outside and inside a transaction block), over the
extended query protocol too (its parameters written in). tests/sql/11_insert_select.test compares the
answers with plain PostgreSQL.
"""

import psycopg2
import psycopg2.errors
import pytest

from pgwire import PgConn, bind_msg, describe_msg, execute_msg, parse_msg, query_msg, sync_msg

ROWS = 2500  # three batches


@pytest.fixture
def split_table(mosaic, table_name):
    """Tenant 2 whole on its home node with ROWS rows; tenant 1 split on id over the 3 nodes."""
    c = mosaic.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute(f"CREATE TABLE {table_name} (tenant_id int NOT NULL, id int NOT NULL, v text, "
                f"PRIMARY KEY (tenant_id, id))")
    mosaic.split_by_id(table_name, "1")
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


def test_over_the_extended_protocol(mosaic, split_table):
    # As JDBC's executeUpdate sends it (Parse, Bind, Describe, Execute, Sync): refused with
    # 0A000 before. Now it runs through Mosaic at its Execute; outside a block the batch's Sync
    # commits it, and a later statement of the batch that fails rolls it back with the batch,
    # as PostgreSQL's implicit transaction does. With RETURNING it stays refused.
    c, table = split_table
    w = PgConn(mosaic.host, mosaic.port)

    def batch(*sqls, params=()):
        msgs = b"".join(parse_msg("", sql) + bind_msg("", "", params) + describe_msg("P", "") + execute_msg()
                        for sql in sqls)
        w.send(msgs + sync_msg())
        return w.read_until_ready()

    try:
        w.startup()
        through = f"INSERT INTO {table} SELECT 1, id, v FROM {table} WHERE tenant_id = 2"
        r = batch(through, f"SELECT 1 / 0")
        assert [e["C"] for e in r.errors] == ["22012"] and r.tags == [f"INSERT 0 {ROWS}"], (r.errors, r.tags)
        assert r.status == "I"
        assert tenant_one_on_nodes(mosaic, table) == [(0, 0, 0), (0, 0, 0), (0, 0, 0)]
        r = batch(through)
        assert r.errors == [] and r.tags == [f"INSERT 0 {ROWS}"] and r.status == "I", (r.errors, r.tags)
        assert "n" in r.types(), r.types()  # NoData for the portal's Describe
        assert tenant_one_on_nodes(mosaic, table) == [(999, 1, 999), (1000, 1000, 1999), (501, 2000, 2500)]
        # Failing itself (the rows exist now): the batch skips to its Sync, nothing more lands.
        r = batch(through, "SELECT 1")
        assert [e["C"] for e in r.errors] == ["23505"] and r.tags == [] and r.status == "I", (r.errors, r.tags)
        assert tenant_one_on_nodes(mosaic, table) == [(999, 1, 999), (1000, 1000, 1999), (501, 2000, 2500)]
        # Inside a block: the block decides.
        assert w.simple("BEGIN").status == "T"
        r = batch(f"INSERT INTO {table} SELECT 1, id + {ROWS}, v FROM {table} WHERE tenant_id = 2")
        assert r.errors == [] and r.tags == [f"INSERT 0 {ROWS}"] and r.status == "T", (r.errors, r.tags)
        assert w.simple("ROLLBACK").status == "I"
        assert tenant_one_on_nodes(mosaic, table) == [(999, 1, 999), (1000, 1000, 1999), (501, 2000, 2500)]
        # With parameters (refused with 0A000 before): written into the text as constants of their
        # types, untyped when the client left the type open, as PostgreSQL would infer it.
        r = batch(f"INSERT INTO {table} SELECT 1, id + $1, v FROM {table} WHERE tenant_id = 2", params=("10000",))
        assert r.errors == [] and r.tags == [f"INSERT 0 {ROWS}"], (r.errors, r.tags)
        odd = "it's a \\ $1 value"
        r = w.extended(f"INSERT INTO {table} SELECT $1, id + $2, $3 FROM {table} WHERE tenant_id = 2 AND id <= $4",
                       ("1", "20000", odd, "3"), (23, 20, 25, 0))
        assert r.errors == [] and r.tags == ["INSERT 0 3"], (r.errors, r.tags)
        r = w.simple(f"SELECT id, v FROM {table} WHERE tenant_id = 1 AND id > 20000 ORDER BY id")
        assert r.rows == [["20001", odd], ["20002", odd], ["20003", odd]], r.rows
        r = batch(f"INSERT INTO {table} SELECT 1, id + $1, v FROM {table} WHERE tenant_id = 2 RETURNING id",
                  params=("30000",))
        assert [e["C"] for e in r.errors] == ["0A000"] and "without RETURNING" in r.errors[0]["M"], r.errors
        # One tenant, not split, read and written on its node: runs as it is.
        w.send(parse_msg("", f"INSERT INTO {table} SELECT tenant_id, id + {ROWS}, v FROM {table} WHERE tenant_id = 2")
               + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert r.errors == [] and r.tags == [f"INSERT 0 {ROWS}"]
        w.send(query_msg(f"SELECT count(*) FROM {table}"))
        r = w.read_until_ready()
        assert r.rows == [[str(4 * ROWS + 3)]]
    finally:
        w.close()
