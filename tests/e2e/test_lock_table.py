"""LOCK TABLE of a table whose rows are on several nodes locks it on every node.

Sent to one node (as before), a LOCK left the other nodes' rows open to every writer: an
application serialising its writers with LOCK TABLE ... IN EXCLUSIVE MODE got no exclusion for
rows off the default node. Now it runs on every node in the map's order, so two sessions locking
the same table queue on the first node instead of deadlocking.

Layout: ledger split on id over 3 nodes: [0, 100) node 1, [100, 200) node 2, [200, ...) node 3.
"""

import threading
import time

import psycopg2
import pytest

from harness import Mosaic, serving

LAYOUT = {"tables": ["ledger"], "tenant": None, "column": "id",
          "ranges": [{"upper": "100", "node": 1}, {"upper": "200", "node": 2}, {"node": 3}]}


@pytest.fixture(scope="module")
def m():
    with serving(Mosaic(nodes=3, name="locktable")) as inst:
        c = inst.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("CREATE TABLE ledger (id int PRIMARY KEY, n int NOT NULL)")
        status, body = inst.admin_post("/api/v1/layout", LAYOUT)
        assert status == 200, body
        cur.execute("INSERT INTO ledger VALUES " + ",".join(f"({g}, 0)" for g in range(300)))
        c.close()
        yield inst


def lock_waits(m, node_id):
    node = next(n for n in m.nodes() if n["id"] == node_id)
    c = m.connect_node(node)
    c.autocommit = True
    try:
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cur.fetchone()[0]
    finally:
        c.close()


@pytest.mark.timeout(60)
def test_lock_table_holds_every_nodes_rows(m):
    holder, writer = m.connect(), m.connect()
    writer.autocommit = True
    holder.cursor().execute("LOCK TABLE ledger IN EXCLUSIVE MODE")
    wcur = writer.cursor()
    wcur.execute("SET statement_timeout = '1s'")
    for row_id in (50, 150, 250):  # nodes 1, 2 and 3
        with pytest.raises(psycopg2.errors.QueryCanceled):
            wcur.execute("UPDATE ledger SET n = n + 1 WHERE id = %s", (row_id,))
    holder.commit()
    wcur.execute("UPDATE ledger SET n = n + 1 WHERE id IN (50, 150, 250)")
    assert wcur.rowcount == 3
    holder.close()
    writer.close()


@pytest.mark.timeout(60)
def test_two_lockers_queue_and_both_finish(m):
    """Both lock, then increment every row of the three nodes: the second waits for the first
    on node 1 (each runs its LOCK node by node in the same order), and neither deadlocks."""
    first, second = m.connect(), m.connect()
    cur = first.cursor()
    cur.execute("SELECT sum(n) FROM ledger")
    before = cur.fetchone()[0]
    first.commit()
    cur.execute("LOCK TABLE ledger IN SHARE ROW EXCLUSIVE MODE")
    result = {}

    def go():
        try:
            c = second.cursor()
            c.execute("LOCK TABLE ledger IN SHARE ROW EXCLUSIVE MODE")
            c.execute("UPDATE ledger SET n = n + 1")
            second.commit()
            result["ok"] = True
        except psycopg2.Error as e:
            result["error"] = (e.pgcode, str(e).strip())

    t = threading.Thread(target=go, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while lock_waits(m, 1) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock_waits(m, 1) == 1, "the second LOCK should wait on node 1"
    cur.execute("UPDATE ledger SET n = n + 1")
    assert cur.rowcount == 300
    first.commit()
    t.join(20)
    assert not t.is_alive() and result.get("ok"), result
    cur.execute("SELECT sum(n) FROM ledger")
    assert cur.fetchone()[0] == before + 600
    first.commit()
    first.close()
    second.close()


def test_lock_outside_a_block_is_postgresqls_error(m):
    c = m.connect()
    c.autocommit = True
    with pytest.raises(psycopg2.errors.NoActiveSqlTransaction):  # 25P01
        c.cursor().execute("LOCK TABLE ledger")
    c.cursor().execute("SELECT 1")
    c.close()


@pytest.mark.timeout(60)
def test_lock_over_the_extended_protocol_holds_every_nodes_rows(m):
    """As JDBC sends it (Parse, Bind, Describe, Execute, Sync), inside a block: it was refused
    with 0A000 before ("supported over the simple query protocol only"). Outside a block it is
    PostgreSQL's 25P01, over this protocol too."""
    from pgwire import PgConn, parse_msg, bind_msg, describe_msg, execute_msg, sync_msg
    holder = PgConn(m.host, m.port)
    holder.startup()
    writer = m.connect()
    writer.autocommit = True
    try:
        lock = (parse_msg("", "LOCK TABLE ledger IN EXCLUSIVE MODE") + bind_msg("", "") + describe_msg("P", "")
                + execute_msg() + sync_msg())
        holder.send(lock)
        res = holder.read_until_ready()
        assert [e["C"] for e in res.errors] == ["25P01"], res.errors
        assert holder.simple("BEGIN").status == "T"
        holder.send(lock)
        res = holder.read_until_ready()
        assert not res.errors and res.tags == ["LOCK TABLE"] and res.status == "T", (res.errors, res.tags)
        wcur = writer.cursor()
        wcur.execute("SET statement_timeout = '1s'")
        for row_id in (50, 150, 250):  # nodes 1, 2 and 3
            with pytest.raises(psycopg2.errors.QueryCanceled):
                wcur.execute("UPDATE ledger SET n = n + 1 WHERE id = %s", (row_id,))
        assert holder.simple("COMMIT").tags == ["COMMIT"]
        wcur.execute("UPDATE ledger SET n = n + 1 WHERE id IN (50, 150, 250)")
        assert wcur.rowcount == 3
    finally:
        holder.close()
        writer.close()
