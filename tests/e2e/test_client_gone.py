"""A client that hangs up while its statement runs on one or more nodes (its socket closed, its
process killed) is noticed at once, also while the session waits for the nodes: Mosaic cancels
the statement on each node, the nodes roll back the client's transaction, and the session ends.
Without that the nodes ran the statement to its end for nobody, holding its locks (PostgreSQL
itself notices only with client_connection_check_interval; PgBouncer closes the server).

Layout: gone split on id over 2 nodes: [0, 100) node 1, [100, ...) node 2.
On a binary without this, every test here fails by its deadlines.
"""

import os
import re
import signal
import time

import psycopg2
import pytest

from harness import Mosaic, serving
from pgwire import PgConn, query_msg
from test_deadlock import metric, node_sql

LAYOUT = {"tables": ["gone"], "tenant": None, "column": "id",
          "ranges": [{"upper": "100", "node": 1}, {"node": 2}]}
# How long the nodes and Mosaic may take to notice (a cancel request goes over a new
# connection from a thread; the machine may be loaded).
NOTICED_WITHIN = 5.0
# How long what an earlier test left may take to end (see settled), and a two-phase commit
# whose client hung up to run to its end: the bound of a hang, not of speed.
SETTLED_WITHIN = 30.0


@pytest.fixture(scope="module")
def m():
    with serving(Mosaic(nodes=2, name="client_gone")) as inst:
        c = inst.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("CREATE TABLE gone (id int PRIMARY KEY, v int NOT NULL)")
        status, body = inst.admin_post("/api/v1/layout", LAYOUT)
        assert status == 200, body
        cur.execute("INSERT INTO gone VALUES " + ",".join(f"({i}, 0)" for i in range(200)))
        c.close()
        yield inst


def running(m, node_id, marker):
    """Backends of node `node_id` running a statement whose text has `marker`."""
    return node_sql(m, node_id, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                f"AND query LIKE '%{marker}%' AND pid <> pg_backend_pid()")[0][0]


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"{what} after {timeout}s")


def sessions(m):
    return metric(m, "mosaic_client_connections")


def nothing_prepared(m):
    return all(node_sql(m, n, "SELECT count(*) FROM pg_prepared_xacts")[0][0] == 0 for n in (1, 2))


def settled(m):
    """Waits until what earlier tests left has ended: every session (one whose client closed
    just before is still counted until Mosaic has read its Terminate; counted in a test's
    baseline, its end would pass for the end of the session under test) and every two-phase
    commit (a failed test's may still prepare on node 2). The tests here keep no connection
    open between them: no session is left then."""
    wait_for("a session or a prepared transaction of an earlier test is left",
             lambda: sessions(m) == 0 and nothing_prepared(m), SETTLED_WITHIN)


def client(m):
    c = PgConn(m.host, m.port)
    assert c.startup().status == "I"
    return c


def hang_up(c):
    """The client vanishes without Terminate, as a killed process does."""
    c.sock.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("nodes, sql", [
    # One node: the session reads the client while the node runs it.
    ([1], "SELECT pg_sleep(30) /* gone_single */"),
    # Two nodes: the session waits for both parts and reads no client meanwhile.
    ([1, 2], "SELECT id, pg_sleep(30) /* gone_multi */ FROM gone WHERE id IN (1, 101)"),
], ids=["one node", "two nodes"])
def test_a_client_that_hangs_up_mid_statement_stops_it_on_its_nodes(m, nodes, sql):
    marker = re.search(r"gone_\w+", sql).group(0)
    settled(m)
    c = client(m)
    c.send(query_msg(sql))
    wait_for(f"{sql} not running on nodes {nodes}",
             lambda: all(running(m, n, marker) == 1 for n in nodes), 10)
    t0 = time.monotonic()
    hang_up(c)
    done = wait_for("the statement still runs on a node after its client hung up",
                    lambda: all(running(m, n, marker) == 0 for n in nodes), NOTICED_WITHIN)
    print(f"{marker}: stopped on the nodes {done - t0:.2f}s after the client hung up")
    wait_for("the session is still there", lambda: sessions(m) == 0, NOTICED_WITHIN)
    # Mosaic serves on.
    other = m.connect()
    other.autocommit = True
    other.cursor().execute("SELECT count(*) FROM gone")
    other.close()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("waiting", [
    "UPDATE gone SET v = v + 1 WHERE id = 150",          # the wait on node 2 alone
    "UPDATE gone SET v = v + 1 WHERE id IN (2, 150)",    # a statement over both nodes
], ids=["one node", "two nodes"])
def test_a_client_that_hangs_up_in_a_lock_wait_releases_its_rows(m, waiting):
    """A holds rows on both nodes in a block and waits for B's row; A vanishes. A third client
    updates A's rows at once, while B still holds its row."""
    other = m.connect()
    other.autocommit = True
    cur = other.cursor()
    cur.execute("SELECT id, v FROM gone WHERE id IN (1, 2, 101, 150) ORDER BY id")
    before = dict(cur.fetchall())
    holder = m.connect()
    holder.cursor().execute("UPDATE gone SET v = v + 1 WHERE id = 150")  # B: node 2, kept open
    a = client(m)
    for sql in ("BEGIN", "UPDATE gone SET v = v + 1 WHERE id = 1", "UPDATE gone SET v = v + 1 WHERE id = 101"):
        r = a.simple(sql)
        assert not r.errors, (sql, r.errors)
    a.send(query_msg(waiting))
    wait_for("A does not wait for B's row",
             lambda: node_sql(m, 2, "SELECT count(*) FROM pg_stat_activity "
                                    "WHERE wait_event_type = 'Lock'")[0][0] == 1, 10)
    hang_up(a)
    cur.execute(f"SET statement_timeout = '{int(NOTICED_WITHIN * 1000)}ms'")
    t0 = time.monotonic()
    try:
        cur.execute("UPDATE gone SET v = v + 1 WHERE id IN (1, 101)")
    except psycopg2.errors.QueryCanceled:
        pytest.fail(f"A's rows are still locked {NOTICED_WITHIN}s after A hung up")
    print(f"A's rows free {time.monotonic() - t0:.2f}s after A hung up")
    # A's work is gone, B's is not; B's row never moved for A.
    holder.commit()
    cur.execute("SELECT id, v FROM gone WHERE id IN (1, 2, 101, 150) ORDER BY id")
    after = dict(cur.fetchall())
    assert after == {1: before[1] + 1, 2: before[2], 101: before[101] + 1, 150: before[150] + 1}, (before, after)
    for node_id in (1, 2):
        assert node_sql(m, node_id, "SELECT count(*) FROM pg_stat_activity "
                                    "WHERE state LIKE 'idle in transaction%'")[0][0] == 0
    other.close()
    holder.close()


@pytest.fixture(scope="module")
def slow_commit(m):
    """gone_slow, split as gone is: a row of node 2 takes 2 s to commit (a deferred trigger,
    run by PREPARE TRANSACTION)."""
    admin = m.connect()
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("CREATE TABLE gone_slow (id int PRIMARY KEY, v int NOT NULL)")
    status, body = m.admin_post("/api/v1/layout", dict(LAYOUT, tables=["gone_slow"]))
    assert status == 200, body
    cur.execute("CREATE FUNCTION gone_slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN IF NEW.id >= 100 THEN PERFORM pg_sleep(2); END IF; RETURN NULL; END$$")
    cur.execute("CREATE CONSTRAINT TRIGGER gone_slow_commit AFTER INSERT ON gone_slow "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gone_slow_commit()")
    admin.close()


def committed(m, ids):
    c = m.connect()
    try:
        cur = c.cursor()
        cur.execute("SELECT id FROM gone_slow WHERE id = ANY(%s) ORDER BY id", (list(ids),))
        return [r[0] for r in cur.fetchall()]
    finally:
        c.close()


def commit_over_both_nodes(m, first_id):
    """A client whose COMMIT of rows on both nodes is preparing on node 2 (the only PREPARE
    TRANSACTION there: nothing of an earlier test runs)."""
    settled(m)
    a = client(m)
    for sql in ("BEGIN", f"INSERT INTO gone_slow VALUES ({first_id}, 1)",
                f"INSERT INTO gone_slow VALUES ({first_id + 100}, 1)"):
        r = a.simple(sql)
        assert not r.errors, (sql, r.errors)
    a.send(query_msg("COMMIT"))
    wait_for("PREPARE TRANSACTION does not run on node 2",
             lambda: running(m, 2, "PREPARE TRANSACTION") == 1, 10)
    return a


@pytest.mark.timeout(90)
def test_a_client_that_hangs_up_during_a_two_phase_commit_leaves_it_decided(m, slow_commit):
    """The client vanishes while its COMMIT prepares: the commit runs to its end (both rows
    committed, nothing left prepared) and then the session ends."""
    hang_up(commit_over_both_nodes(m, 1))
    # Its end is the sign that the outcome is decided: read before, the rows are not committed.
    wait_for("the session is still there", lambda: sessions(m) == 0, SETTLED_WITHIN)
    assert committed(m, [1, 101]) == [1, 101]
    assert nothing_prepared(m)


@pytest.mark.timeout(120)
def test_a_node_lost_during_prepare_rolls_back_every_node(m, slow_commit):
    """Node 2's backend dies (SIGKILL: no FATAL message first) while it prepares: the
    transaction must not commit on node 1 (Mosaic recorded the commit decision and committed
    node 1, although node 2 never prepared). Node 2 restarts; run last in this module."""
    a = commit_over_both_nodes(m, 2)
    pid = node_sql(m, 2, "SELECT pid FROM pg_stat_activity "
                         "WHERE query LIKE 'PREPARE TRANSACTION%' AND pid <> pg_backend_pid()")[0][0]
    os.kill(pid, signal.SIGKILL)
    assert a.wait_closed(NOTICED_WITHIN), "the client's connection stays open"
    assert b"08006" in a.buf, a.buf  # FATAL: the node's connection was lost

    def settled():
        try:
            return nothing_prepared(m) and committed(m, [2, 102]) == []
        except psycopg2.Error:  # node 2 still in crash recovery
            return False
    wait_for("the transaction is committed on node 1 alone, or left prepared", settled, 30)


@pytest.mark.timeout(60)
def test_a_client_that_pipelines_while_waiting_is_not_taken_for_gone(m):
    """Bytes the client sends while a statement over both nodes runs are its next message, not
    a hang-up: both statements are answered."""
    c = client(m)
    c.send(query_msg("SELECT id, pg_sleep(1) FROM gone WHERE id IN (3, 103) ORDER BY id"))
    time.sleep(0.3)
    c.send(query_msg("SELECT 7"))
    first = c.read_until_ready()
    second = c.read_until_ready()
    assert not first.errors and not second.errors, (first.errors, second.errors)
    assert [r[0] for r in first.rows] == ["3", "103"], first.rows
    assert second.rows == [["7"]], second.rows
    c.close()
