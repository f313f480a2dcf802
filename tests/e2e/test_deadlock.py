"""Distributed deadlocks: transactions that wait for each other on different nodes.

No node sees such a cycle (each sees one ordinary lock wait), so without Mosaic's detector the
clients wait forever (lock_timeout is 0). With it, within a round or two of
deadlock_detection_interval_s (default 2 s) the youngest transaction of the cycle gets 40P01
and the others go on.

Layout: acct split on id over 3 nodes: [0, 100) node 1, [100, 200) node 2, [200, ...) node 3.
On a binary without the detector every test here hangs, and fails by its join timeouts.
"""

import re
import threading
import time

import psycopg2
import pytest

from harness import Mosaic, cut_connection, serving

LAYOUT = {"tables": ["acct"], "tenant": None, "column": "id",
          "ranges": [{"upper": "100", "node": 1}, {"upper": "200", "node": 2}, {"node": 3}]}
ROWS = 300
# Detection takes up to two intervals (a cycle that forms just after a round is seen by the
# next) plus the cancel; this leaves room for a loaded machine.
DETECT_WITHIN = 15.0


@pytest.fixture(scope="module")
def m():
    with serving(Mosaic(nodes=3, name="deadlock")) as inst:
        c = inst.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("CREATE TABLE acct (id int PRIMARY KEY, bal bigint NOT NULL)")
        status, body = inst.admin_post("/api/v1/layout", LAYOUT)
        assert status == 200, body
        cur.execute("INSERT INTO acct VALUES " + ",".join(f"({i}, 1000)" for i in range(ROWS)))
        c.close()
        yield inst


def metric(m, name):
    found = re.search(rf"^{re.escape(name)} (\S+)$", m.metrics(), re.M)
    return float(found.group(1)) if found else None


def run_in_thread(conn, sql, args=None):
    """Runs `sql` on `conn` in a thread; the result dict gets 'ok' or 'error' (pgcode, message)
    and 'elapsed'."""
    res = {}

    def go():
        t0 = time.monotonic()
        try:
            conn.cursor().execute(sql, args)
            res["ok"] = True
        except psycopg2.Error as e:
            res["error"] = (e.pgcode, str(e).strip())
        res["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, res


def node_sql(m, node_id, sql):
    node = next(n for n in m.nodes() if n["id"] == node_id)
    c = m.connect_node(node)
    c.autocommit = True
    try:
        cur = c.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        c.close()


def wait_until_waiting(m, node_id, count, timeout=10.0):
    """Until `count` backends of node `node_id` wait on a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = node_sql(m, node_id, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")[0][0]
        if n >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"node {node_id}: fewer than {count} lock waits after {timeout}s")


def total_balance(m):
    c = m.connect()
    c.autocommit = True
    try:
        cur = c.cursor()
        cur.execute("SELECT sum(bal) FROM acct")
        return cur.fetchone()[0]
    finally:
        c.close()


@pytest.mark.timeout(90)
def test_two_transactions_over_two_nodes(m):
    """A holds a row on node 1 and waits on node 2; B holds node 2's row and waits on node 1.
    B began last: it gets 40P01, and its row on node 2 is free at once (as PostgreSQL releases
    an aborted transaction's locks at the error), so A completes before B's ROLLBACK; B's
    session works after ROLLBACK."""
    before = metric(m, "mosaic_distributed_deadlocks_total")
    a, b = m.connect(), m.connect()
    a.cursor().execute("UPDATE acct SET bal = bal - 1 WHERE id = 50")   # node 1
    b.cursor().execute("UPDATE acct SET bal = bal - 1 WHERE id = 150")  # node 2
    ta, ra = run_in_thread(a, "UPDATE acct SET bal = bal + 1 WHERE id = 150")
    wait_until_waiting(m, 2, 1)
    t0 = time.monotonic()
    tb, rb = run_in_thread(b, "UPDATE acct SET bal = bal + 1 WHERE id = 50")
    tb.join(DETECT_WITHIN)
    detected = time.monotonic() - t0
    try:
        assert not tb.is_alive(), f"deadlock not broken after {DETECT_WITHIN}s: A {ra}, B {rb}"
        print(f"two-transaction deadlock broken after {detected:.2f}s")
        code, message = rb["error"]
        assert code == "40P01", rb
        assert "distributed deadlock" in message, message
        ta.join(10)
        assert not ta.is_alive() and ra.get("ok"), f"A still waits for the victim's row on node 2: {ra}"
        # The victim's transaction is aborted, as after any error; ROLLBACK, then it works again.
        assert b.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR
        b.rollback()
    finally:
        if ta.is_alive() or tb.is_alive():
            cut_connection(a)
            cut_connection(b)
    a.commit()
    cur = b.cursor()
    cur.execute("SELECT bal FROM acct WHERE id IN (50, 150) ORDER BY id")
    assert cur.fetchall() == [(999,), (1001,)]  # A's two updates; none of B's
    cur.execute("UPDATE acct SET bal = bal + 0 WHERE id IN (50, 150)")
    b.commit()
    assert metric(m, "mosaic_distributed_deadlocks_total") == before + 1
    a.close()
    b.close()


@pytest.mark.timeout(120)
def test_single_statement_over_three_nodes_from_several_clients(m):
    """One autocommit UPDATE of rows on 3 nodes, run in a loop by 4 clients: its parts take the
    row locks on the nodes in parallel, in different orders, and deadlock among themselves.
    Every deadlock is broken (40P01), the loop ends on time, and each statement is atomic."""
    clients, seconds = 4, 6.0
    start_total = total_balance(m)
    before_clients = metric(m, "mosaic_client_connections")
    done = [0] * clients
    errors = []

    def loop(i):
        c = m.connect()
        c.autocommit = True
        cur = c.cursor()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                cur.execute("UPDATE acct SET bal = bal + 1 WHERE id IN (1, 101, 201)")
                done[i] += 1
            except psycopg2.Error as e:
                errors.append((e.pgcode, str(e).strip()))
        c.close()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 2 * DETECT_WITHIN)
    stuck = sum(t.is_alive() for t in threads)
    assert stuck == 0, f"{stuck} client(s) still blocked; done {done}, errors {errors[:3]}"
    print(f"statements done {done}, deadlocks broken: {len(errors)}")
    assert all(code == "40P01" for code, _ in errors), errors[:5]
    assert sum(done) > 0
    # All or nothing per statement, on every node.
    assert total_balance(m) == start_total + 3 * sum(done)
    for node_id in (1, 2, 3):
        assert node_sql(m, node_id, "SELECT count(*) FROM pg_prepared_xacts")[0][0] == 0
    # Nothing is left holding the rows, and the sessions are gone.
    c = m.connect()
    c.cursor().execute("SET statement_timeout = '5s'")
    c.cursor().execute("UPDATE acct SET bal = bal + 0 WHERE id IN (1, 101, 201)")
    c.commit()
    c.close()
    deadline = time.monotonic() + 10
    while metric(m, "mosaic_client_connections") > before_clients and time.monotonic() < deadline:
        time.sleep(0.1)
    # (At most: the baseline may still have counted a session of an earlier test that was
    # closing then; it was 1 against 0 after, in one full run.)
    assert metric(m, "mosaic_client_connections") <= before_clients


@pytest.mark.timeout(120)
def test_ordinary_waits_are_not_cancelled(m):
    """A holds rows on nodes 1 and 2. B waits for A on node 2, C (holding node 3's row) waits
    for A on node 1: waits on several nodes, but no cycle, so nobody is cancelled, however
    long they last. Then A waits for C on node 3: a cycle A -> C -> A. Only C (the youngest of
    it) is cancelled; B, whose wait is not part of it, goes on waiting and completes once A
    commits."""
    before = metric(m, "mosaic_distributed_deadlocks_total")
    a, b, c = m.connect(), m.connect(), m.connect()
    b.autocommit = True
    a.cursor().execute("UPDATE acct SET bal = bal + 1 WHERE id = 60")   # node 1
    a.cursor().execute("UPDATE acct SET bal = bal + 1 WHERE id = 160")  # node 2
    c.cursor().execute("UPDATE acct SET bal = bal + 1 WHERE id = 260")  # node 3
    tb, rb = run_in_thread(b, "UPDATE acct SET bal = bal + 1 WHERE id = 160")  # waits for A, node 2
    tc, rc = run_in_thread(c, "UPDATE acct SET bal = bal + 1 WHERE id = 60")   # waits for A, node 1
    wait_until_waiting(m, 1, 1)
    wait_until_waiting(m, 2, 1)
    time.sleep(5)  # two rounds and more
    assert tb.is_alive() and tc.is_alive(), f"an ordinary lock wait was cancelled: B {rb}, C {rc}"
    assert metric(m, "mosaic_distributed_deadlocks_total") == before
    # A now waits for C on node 3: a cycle over nodes 1 and 3. C began after A: C is the victim.
    ta, ra = run_in_thread(a, "UPDATE acct SET bal = bal + 1 WHERE id = 260")
    t0 = time.monotonic()
    tc.join(DETECT_WITHIN)
    print(f"deadlock A -> C -> A broken after {time.monotonic() - t0:.2f}s")
    try:
        assert not tc.is_alive(), f"deadlock not broken: A {ra}, C {rc}"
        assert rc["error"][0] == "40P01", rc
        ta.join(10)  # C's row on node 3 went with its aborted block, before its ROLLBACK
        c.rollback()
        assert not ta.is_alive() and ra.get("ok"), ra
    finally:
        if ta.is_alive() or tc.is_alive():
            for conn in (a, b, c):
                cut_connection(conn)
    assert tb.is_alive(), f"B's wait was cancelled: {rb}"
    a.commit()
    tb.join(10)
    assert not tb.is_alive() and rb.get("ok"), rb
    assert metric(m, "mosaic_distributed_deadlocks_total") == before + 1
    for conn in (a, b, c):
        conn.close()
