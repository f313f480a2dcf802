"""Subqueries and CTEs over several nodes that Mosaic runs first (recursive planning): what the
differential records of tests/sql/12_subqueries.test cannot show. Inside a REPEATABLE READ block
the subquery and the statement read the block's snapshot (the steps run on its connections);
outside one each step sees what is committed then. The rows a subquery returns are held as for a
merge (max_merge_mb, then 54000, and the session goes on). Over the extended query protocol the
Bind's parameters are written into the statement and it runs the same way (rows read in text,
converted to binary where the Bind asks; a row limit suspends the portal), UPDATE and DELETE
too. On the binary before recursive planning every one of these SELECTs was refused with 0A000;
before extended-protocol subplans, every one sent with Parse/Bind.
"""

import psycopg2
import pytest

import pgwire
from pgwire import PgConn, bind_msg, execute_msg, parse_msg, sync_msg

SUBPLANNED = ("SELECT count(*) FROM sp_orders WHERE customer_id IN "
              "(SELECT customer_id FROM sp_orders WHERE amount >= 100)")


def setup_tables(m, cur, big=False):
    cur.execute("CREATE TABLE sp_orders (tenant_id int NOT NULL, id int NOT NULL, customer_id int, "
                "amount int, pad text, PRIMARY KEY (tenant_id, id))")
    status, body = m.admin_post("/api/v1/layout", {
        "table": "sp_orders", "tenant": "1", "column": "id",
        "ranges": [{"upper": "100", "node": 1}, {"node": 2}]})
    assert status == 200, body
    cur.execute("INSERT INTO sp_orders VALUES (1, 1, 10, 150, ''), (1, 200, 20, 5, ''), (1, 201, 10, 7, ''), "
                "(2, 1, 30, 300, ''), (2, 2, 20, 1, '')")
    if big:
        # 1.5 MB of rows over both nodes of tenant 1
        # (in two halves: INSERT ... SELECT into a split tenant holds its rows in Mosaic too)
        for first in (1000, 1500):
            cur.execute("INSERT INTO sp_orders SELECT 1, g, g, 1, repeat('x', 1500) FROM generate_series(%s, %s) g",
                        (first, first + 499))


def started(mosaic_factory, **kw):
    """A Mosaic over 2 nodes with the tables set up, and an autocommit client: (m, conn, cursor)."""
    m = mosaic_factory(nodes=2, **kw)
    a = m.connect()
    a.autocommit = True
    cur = a.cursor()
    setup_tables(m, cur, big="max_merge_mb" in kw.get("config_text", ""))  # rows past the limit
    return m, a, cur


@pytest.mark.timeout(120)
def test_repeatable_read_block_reads_one_snapshot_and_extended_protocol_answers(mosaic_factory):
    m, a, cur = started(mosaic_factory)
    cur.execute(SUBPLANNED)
    assert cur.fetchone() == (3,)  # customers 10 (two orders) and 30

    other = m.connect()
    other.autocommit = True
    ocur = other.cursor()

    cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    cur.execute(SUBPLANNED)
    assert cur.fetchone() == (3,)
    # customer 20 gets a big order on the other node after the block's snapshot
    ocur.execute("INSERT INTO sp_orders VALUES (1, 202, 20, 500, '')")
    cur.execute(SUBPLANNED)
    assert cur.fetchone() == (3,), "the subquery or the statement read past the block's snapshot"
    cur.execute("WITH c AS (SELECT customer_id FROM sp_orders WHERE amount >= 100) SELECT count(*) FROM c")
    assert cur.fetchone() == (2,)
    cur.execute("COMMIT")
    # outside a block: what is committed now
    cur.execute(SUBPLANNED)
    assert cur.fetchone() == (6,)

    # The extended query protocol answers the same.
    c = PgConn(m.host, m.port, timeout=15)
    c.startup()
    c.send(parse_msg("", SUBPLANNED) + bind_msg("", "") + execute_msg("", 0) + sync_msg())
    res = c.read_until_ready()
    assert not res.errors and res.rows == [["6"]], (res.errors, res.rows)
    assert res.types() == "12DCZ", res.types()
    res = c.simple(SUBPLANNED)
    assert not res.errors and res.rows == [["6"]], (res.errors, res.rows)
    # Sent without waiting: the replies keep their order, a refusal found before any step ran too.
    c.send(pgwire.query_msg("SELECT 1 FROM pg_sleep(0.3)")
           + pgwire.query_msg("SELECT id FROM sp_orders o WHERE EXISTS (SELECT 1 FROM sp_orders i WHERE i.id = o.customer_id)")
           + pgwire.query_msg(SUBPLANNED))
    first, second, third = c.read_until_ready(), c.read_until_ready(), c.read_until_ready()
    assert first.rows == [["1"]] and not first.errors, (first.rows, first.errors)
    assert [e.get("C") for e in second.errors] == ["0A000"], second.errors
    assert third.rows == [["6"]], (third.rows, third.errors)
    c.close()
    a.close()
    other.close()


@pytest.mark.timeout(120)
def test_extended_protocol_with_parameters_row_limits_and_errors(mosaic_factory):
    """psycopg 3 (Parse/Bind/Describe/Execute, parameters in text and binary) and raw messages:
    the parameters reach the subquery and the outer statement; an Execute with a row limit gets
    PortalSuspended and the rest at the next; an error of a step fails the batch to its Sync;
    binary results come converted from the text the nodes sent (the same values as in text),
    and a type without a binary form here is refused with 0A000; the connection goes on after
    each."""
    psycopg = pytest.importorskip("psycopg")
    m, a, cur = started(mosaic_factory)
    query = ("SELECT id, customer_id FROM sp_orders WHERE customer_id IN "
             "(SELECT customer_id FROM sp_orders WHERE amount >= {p}) AND id > {p} ORDER BY tenant_id, id")
    with psycopg.connect(host=m.host, port=m.port, user="mosaic", dbname="mosaic", autocommit=True) as p:
        for marker in ("%s", "%b"):
            got = p.execute(query.format(p=marker), (100, 0)).fetchall()
            assert got == [(1, 10), (201, 10), (1, 30)], (marker, got)
            got = p.execute(query.format(p=marker), (5, 1)).fetchall()
            assert got == [(200, 20), (201, 10), (2, 20)], (marker, got)
        got = p.execute("WITH big AS (SELECT customer_id FROM sp_orders WHERE amount > %s) "
                        "SELECT count(*) FROM big", (6,)).fetchall()
        assert got == [(3,)], got
        with pytest.raises(psycopg.Error) as err:
            p.execute("SELECT id FROM sp_orders WHERE customer_id IN "
                      "(SELECT customer_id / (amount - %s) FROM sp_orders)", (5,))
        assert err.value.sqlstate == "22012", err.value
        assert p.execute("SELECT 1").fetchall() == [(1,)]
        # Binary results: the rows are read in text and converted, the same values as in text.
        got = p.execute(query.format(p="%s"), (100, 0), binary=True).fetchall()
        assert got == [(1, 10), (201, 10), (1, 30)], got
        typed = ("SELECT id, amount::numeric / 3 AS third, amount * 0.1::float8 AS tenth, amount > 5 AS big, "
                 "date '2024-01-05' + id AS day, timestamptz '2024-01-05 10:00+02' + make_interval(secs => id) AS at, "
                 "pad FROM sp_orders WHERE customer_id IN (SELECT customer_id FROM sp_orders WHERE amount >= %s) "
                 "ORDER BY tenant_id, id")
        text_rows = p.execute(typed, (5,)).fetchall()
        assert len(text_rows) >= 3, text_rows
        assert p.execute(typed, (5,), binary=True).fetchall() == text_rows
        # a column of a type Mosaic has no binary form of (interval) is refused
        with pytest.raises(psycopg.Error) as err:
            p.execute("SELECT id, make_interval(days => id) FROM sp_orders WHERE customer_id IN "
                      "(SELECT customer_id FROM sp_orders WHERE amount >= %s)", (100,), binary=True)
        assert err.value.sqlstate == "0A000" and "type interval" in str(err.value), err.value
        assert p.execute("SELECT 1").fetchall() == [(1,)]
        # In a block: the steps read the block's own rows.
        with p.transaction():
            p.execute("INSERT INTO sp_orders VALUES (2, 3, 40, 900, '')")
            got = p.execute(query.format(p="%s"), (800, 0)).fetchall()
            assert got == [(3, 40)], got
            raise psycopg.Rollback()
        assert p.execute(query.format(p="%s"), (800, 0)).fetchall() == []

    # A row limit: 2 rows, PortalSuspended, then the rest.
    c = PgConn(m.host, m.port, timeout=15)
    c.startup()
    c.send(pgwire.query_msg("BEGIN"))
    assert c.read_until_ready().status == "T"
    c.send(parse_msg("", query.format(p="$1")) + bind_msg("p1", "", ("1",)) + pgwire.describe_msg("P", "p1")
           + execute_msg("p1", 2) + execute_msg("p1", 2) + execute_msg("p1", 2) + sync_msg())
    res = c.read_until_ready()
    assert not res.errors, res.errors
    assert res.types() == "12TDDsDCCZ", res.types()
    assert [r[0] for r in res.rows] == ["200", "201", "2"], res.rows
    assert res.tags == ["SELECT 1", "SELECT 0"], res.tags  # as PostgreSQL counts after a suspension
    assert c.simple("COMMIT").status == "I"
    c.close()
    a.close()


@pytest.mark.timeout(120)
def test_update_and_delete_with_subqueries_over_the_extended_protocol(mosaic_factory):
    """psycopg 3 (Parse/Bind/Execute with parameters): an UPDATE or DELETE whose subquery reads
    other nodes than its rows runs its subquery first at Execute, then writes on both nodes in
    the batch's transaction: committed at Sync outside a block (two-phase over both nodes),
    undone with a block that rolls back, nothing written when the subquery fails, and refused
    (0A000) with RETURNING. On the binary before, each was refused with 0A000."""
    psycopg = pytest.importorskip("psycopg")
    m, a, cur = started(mosaic_factory)

    def rows():
        cur.execute("SELECT tenant_id, id, customer_id, pad FROM sp_orders ORDER BY tenant_id, id")
        return cur.fetchall()

    before = rows()
    big = "SELECT customer_id FROM sp_orders WHERE amount >= %s"
    small = "SELECT customer_id FROM sp_orders WHERE amount < %s"
    with psycopg.connect(host=m.host, port=m.port, user="mosaic", dbname="mosaic", autocommit=True) as p:
        # customers 10 and 30 spent 100 or more: their orders on node 1 (1, 1), (2, 1) and node 2 (1, 201)
        got = p.execute(f"UPDATE sp_orders SET pad = %s WHERE customer_id IN ({big})", ("vip", 100))
        assert got.rowcount == 3, got.rowcount
        assert [(r[0], r[1]) for r in rows() if r[3] == "vip"] == [(1, 1), (1, 201), (2, 1)], rows()
        # In a block that rolls back: customer 20's orders (1, 200) and (2, 2) come back.
        with p.transaction():
            got = p.execute(f"DELETE FROM sp_orders WHERE customer_id IN ({small})", (5,))
            assert got.rowcount == 2, got.rowcount
            assert p.execute("SELECT count(*) FROM sp_orders").fetchone() == (3,)
            raise psycopg.Rollback()
        assert len(rows()) == 5, rows()
        # A subquery that fails: nothing written, the connection goes on.
        with pytest.raises(psycopg.Error) as err:
            p.execute("DELETE FROM sp_orders WHERE customer_id IN (SELECT customer_id / (amount - %s) FROM sp_orders)",
                      (5,))
        assert err.value.sqlstate == "22012", err.value
        assert len(rows()) == 5, rows()
        # RETURNING is still refused.
        with pytest.raises(psycopg.Error) as err:
            p.execute(f"DELETE FROM sp_orders WHERE customer_id IN ({small}) RETURNING id", (5,))
        assert err.value.sqlstate == "0A000", err.value
        # Outside a block: committed on both nodes at the batch's Sync.
        got = p.execute(f"DELETE FROM sp_orders WHERE customer_id IN ({small})", (5,))
        assert got.rowcount == 2, got.rowcount
    assert [(r[0], r[1]) for r in rows()] == [(r[0], r[1]) for r in before if r[2] != 20] == [(1, 1), (1, 201), (2, 1)]
    a.close()


@pytest.mark.timeout(120)
def test_subquery_rows_past_max_merge_mb_are_refused_and_the_session_goes_on(mosaic_factory):
    m, c, cur = started(mosaic_factory, config_text="max_merge_mb = 1\n")
    with pytest.raises(psycopg2.Error) as err:
        cur.execute("SELECT count(*) FROM sp_orders WHERE pad IN (SELECT pad FROM sp_orders WHERE tenant_id = 1)")
    assert err.value.pgcode == "54000", err.value
    cur.execute("SELECT count(*) FROM sp_orders WHERE id IN (SELECT id FROM sp_orders WHERE tenant_id = 1)")
    assert cur.fetchone() == (1004,)
    c.close()


@pytest.mark.timeout(120)
def test_a_select_over_several_nodes_sent_right_behind_another_statement_is_answered(mosaic_factory):
    # Found while building the above: the scattered SELECT waited for the earlier statement's
    # reply before that statement had been written to its node, and the session hung.
    m, a, _ = started(mosaic_factory)
    c = PgConn(m.host, m.port, timeout=15)
    c.startup()
    c.send(pgwire.query_msg("SELECT 1 FROM pg_sleep(0.3)") + pgwire.query_msg("SELECT count(*) FROM sp_orders"))
    first, second = c.read_until_ready(), c.read_until_ready()
    assert first.rows == [["1"]] and not first.errors, (first.rows, first.errors)
    assert second.rows == [["5"]] and not second.errors, (second.rows, second.errors)
    c.close()
    a.close()


@pytest.mark.timeout(120)
def test_statements_taken_apart_or_inserted_through_mosaic_are_monitored(mosaic_factory):
    # The query pattern monitor saw neither: the advisor learnt nothing of these statements.
    import time
    m, a, cur = started(mosaic_factory)

    def statements(query):  # per tenant, or all tenants' ("" )
        status, body = m.admin_get_json("/api/v1/patterns" + query)
        assert status == 200, body
        if "tables" in body:
            return sum(t["statements"] for t in body["tables"] if t["table"] == "sp_orders")
        return sum(t["statements"] for t in body["tenants"])

    def settled(query, expected):
        deadline = time.monotonic() + 10
        while statements(query) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        return statements(query)

    time.sleep(1.5)  # the loading INSERTs reach the aggregator
    tenant1, everyone = statements("?tenant=1"), statements("")
    for _ in range(5):
        cur.execute("SELECT count(*) FROM sp_orders WHERE tenant_id = 1 AND customer_id IN "
                    "(SELECT customer_id FROM sp_orders WHERE tenant_id = 1 AND amount >= 100)")
        assert cur.fetchone() == (2,)
    assert settled("?tenant=1", tenant1 + 5) == tenant1 + 5
    # tenant 1 is split over both nodes: rows read from tenant 2 go through Mosaic
    cur.execute("INSERT INTO sp_orders SELECT 1, id + 5000, customer_id, amount, pad FROM sp_orders "
                "WHERE tenant_id = 2")
    assert cur.rowcount == 2
    assert settled("", everyone + 6) == everyone + 6
    a.close()
