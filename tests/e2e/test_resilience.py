"""Failures and restarts, each on its own Mosaic (2 managed nodes)."""

import os
import signal
import socket
import threading
import time

import psycopg2
import pytest

CLIENT_TIMEOUT = 15.0  # a query through Mosaic must answer (rows or error) within this


def _cut(conn):
    try:
        s = socket.socket(fileno=os.dup(conn.fileno()))
        s.shutdown(socket.SHUT_RDWR)
        s.close()
    except Exception:
        pass


def query_with_timeout(mosaic, sql, conn=None, timeout=CLIENT_TIMEOUT):
    """Run sql (autocommit) through Mosaic on conn or a new connection.
    Returns ("ok", rows) or ("error", exception); fails the test on a hang."""
    out = {}
    holder = {"conn": conn}

    def run():
        try:
            c = holder["conn"]
            if c is None:
                c = holder["conn"] = mosaic.connect(connect_timeout=int(timeout))
                c.autocommit = True
            cur = c.cursor()
            cur.execute(sql)
            out["ok"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001
            out["error"] = e

    t0 = time.monotonic()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(timeout)
    if th.is_alive():
        if holder["conn"] is not None:
            _cut(holder["conn"])
        th.join(5)
        pytest.fail(f"query {sql!r} through Mosaic hung for more than {timeout}s")
    if conn is None and holder["conn"] is not None:
        holder["conn"].close()
    elapsed = time.monotonic() - t0
    if "ok" in out:
        return "ok", out["ok"], elapsed
    return "error", out["error"], elapsed


def node_state(mosaic, node_id):
    for n in mosaic.nodes():
        if n["id"] == node_id:
            return n["state"]
    raise AssertionError(f"node {node_id} missing from /api/v1/nodes")


@pytest.mark.timeout(150)
def test_kill_node1_postmaster(mosaic_factory):
    m = mosaic_factory(nodes=2, name="kill")
    setup = m.connect()
    setup.autocommit = True
    cur = setup.cursor()
    cur.execute("CREATE TABLE survivors (id int primary key, v text)")
    cur.execute("INSERT INTO survivors SELECT g, 'v' || g FROM generate_series(1, 100) g")
    long_lived = m.connect()  # opened before the crash, used again after recovery
    long_lived.autocommit = True
    lcur = long_lived.cursor()
    lcur.execute("SELECT count(*) FROM survivors")
    assert lcur.fetchone() == (100,)

    # a transaction in flight when the node dies
    inflight = m.connect()
    icur = inflight.cursor()
    icur.execute("INSERT INTO survivors VALUES (-1, 'in flight')")

    old_pid = m.postmaster_pid(1)
    assert old_pid, "no postmaster.pid for node 1"
    os.kill(old_pid, signal.SIGKILL)
    t_kill = time.monotonic()

    # While node 1 is down, queries through Mosaic fail promptly (error, not hang).
    seen_error = None
    states = set()
    while time.monotonic() - t_kill < 10 and seen_error is None:
        kind, val, elapsed = query_with_timeout(m, "SELECT count(*) FROM survivors")
        if kind == "error":
            seen_error = (val, elapsed)
        try:
            states.add(node_state(m, 1))
        except OSError:
            pass
        time.sleep(0.05)
    assert seen_error is not None, "no query failed although node 1's postmaster was killed"
    err, elapsed = seen_error
    assert isinstance(err, psycopg2.Error), repr(err)
    assert elapsed < CLIENT_TIMEOUT
    assert m.alive(), "mosaic died when a node crashed"
    # Mosaic reports the outage as a PostgreSQL error with a connection-class SQLSTATE
    # (or the client lost its connection, which libpq reports without a SQLSTATE)
    assert err.pgcode is None or err.pgcode[:2] in ("08", "57"), (err.pgcode, str(err))

    # Within 30 s queries work again.
    deadline = t_kill + 30
    recovered = False
    last = None
    while time.monotonic() < deadline:
        kind, val, _ = query_with_timeout(m, "SELECT count(*) FROM survivors")
        if kind == "ok":
            assert val == [(100,)]
            recovered = True
            break
        last = val
        states.add(node_state(m, 1))
        time.sleep(0.5)
    assert recovered, f"queries still failing 30 s after the crash: {last}"

    # the in-flight transaction's COMMIT must fail (its server backend died); it
    # must not report success for a write that was lost
    commit_error = None
    try:
        inflight.commit()
    except psycopg2.Error as e:
        commit_error = e
    kind, val, _ = query_with_timeout(m, "SELECT count(*) FROM survivors WHERE id = -1")
    assert kind == "ok", val
    assert commit_error is not None, f"COMMIT after the node crash reported success; row present: {val}"
    assert val == [(0,)], "a transaction whose COMMIT failed left its row behind"
    inflight.close()
    assert m.alive()
    new_pid = m.postmaster_pid(1)
    assert new_pid and new_pid != old_pid, "node 1 was not restarted"

    # The API reports the node up again (and saw it not up in between).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and node_state(m, 1) != "up":
        time.sleep(0.5)
    assert node_state(m, 1) == "up"
    assert node_state(m, 2) == "up"
    assert states - {"up"}, f"/api/v1/nodes never showed node 1 as not up: {states}"
    assert 'mosaic_node_up{node="1"} 1' in m.metrics()

    # Writes work again, and a client connection from before the crash still works
    # (possibly after one error: it must not be stuck).
    kind, val, _ = query_with_timeout(m, "INSERT INTO survivors VALUES (101, 'after') RETURNING id")
    assert kind == "ok" and val == [(101,)], val
    kind, val, _ = query_with_timeout(m, "SELECT count(*) FROM survivors", conn=long_lived)
    if kind == "error":
        kind, val, _ = query_with_timeout(m, "SELECT count(*) FROM survivors", conn=long_lived)
    assert kind == "ok" and val == [(101,)], val
    setup.close()
    long_lived.close()


@pytest.mark.timeout(150)
def test_restart_keeps_data(mosaic_factory):
    m = mosaic_factory(nodes=2, name="restart")
    conn = m.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE TABLE durable (id int primary key, payload text)")
    cur.execute("INSERT INTO durable SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
    cur.execute("BEGIN")
    cur.execute("INSERT INTO durable VALUES (5000, 'committed in a transaction')")
    cur.execute("COMMIT")
    cur.execute("SELECT count(*), sum(id), md5(string_agg(payload, ',' ORDER BY id)) FROM durable")
    before = cur.fetchone()
    assert before[0] == 1001
    conn.close()
    ports = (m.port, m.admin_port, m.node_base_port)

    rc = m.stop()
    assert rc == 0, f"exit code {rc} on SIGTERM:\n{m.log_tail()}"
    for i in (1, 2):
        pid = m.postmaster_pid(i)
        assert pid is None or not _alive(pid), f"node {i} postmaster still running after stop"

    m.start()  # same data dir, same ports
    assert (m.port, m.admin_port, m.node_base_port) == ports
    conn = m.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT count(*), sum(id), md5(string_agg(payload, ',' ORDER BY id)) FROM durable")
    assert cur.fetchone() == before
    # the schema is still on both nodes, the rows only on node 1
    for n in m.nodes():
        assert n["state"] == "up", n
        nc = m.connect_node(n)
        ncur = nc.cursor()
        ncur.execute("SELECT count(*) FROM durable")
        assert ncur.fetchone()[0] == (1001 if n["id"] == 1 else 0)
        nc.close()
    # and it keeps working for writes and DDL after the restart
    cur.execute("INSERT INTO durable VALUES (6000, 'after restart')")
    cur.execute("CREATE TABLE after_restart (a int)")
    cur.execute("SELECT count(*) FROM durable")
    assert cur.fetchone() == (1002,)
    conn.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


@pytest.mark.timeout(120)
def test_a_backend_killed_while_it_sends_rows_is_reported_to_the_client(mosaic_factory):
    """A node's backend killed (SIGKILL: no FATAL) while it sends a large result: Mosaic must
    end the client's statement with 08006 (connection to the node lost), and the session goes
    on. The rows still queued and the close reach Mosaic together once the client reads on, so
    the last read of the rows was taken as draining the socket and the end of file after it was
    never read: the client waited for the rest of its result forever (on the binary before this
    test)."""
    from pgwire import PgConn, query_msg
    from test_deadlock import node_sql
    m = mosaic_factory(nodes=1, name="killrows")
    c = PgConn(m.host, m.port)
    assert c.startup().status == "I"
    # About 200 MB: the client does not read, Mosaic stops relaying past its 1 MiB high water,
    # and the backend blocks writing to Mosaic.
    c.send(query_msg("SELECT repeat('x', 1000) AS killrows FROM generate_series(1, 200000)"))
    pid = None
    deadline = time.monotonic() + 30
    while pid is None and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = node_sql(m, 1, "SELECT pid FROM pg_stat_activity WHERE query LIKE '%killrows%' "
                              "AND wait_event = 'ClientWrite' AND pid <> pg_backend_pid()")
        pid = rows[0][0] if rows else None
    assert pid is not None, "the backend never blocked writing its rows"
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # its queued rows and its close now wait for Mosaic together
    c.sock.settimeout(CLIENT_TIMEOUT)
    tail = b""
    try:
        while b"C08006" not in tail or not tail.endswith(b"Z\x00\x00\x00\x05I"):
            chunk = c.sock.recv(1 << 20)
            assert chunk, f"Mosaic closed the client's connection: {tail[-200:]!r}"
            tail = (tail + chunk)[-8192:]
    except socket.timeout:
        pytest.fail(f"the client still waits {CLIENT_TIMEOUT}s after its node's backend was killed: {tail[-200:]!r}")
    assert b"connection to node 1 lost" in tail, tail[-300:]
    # The session goes on (its node back after crash recovery).
    deadline = time.monotonic() + 60
    while True:
        r = c.simple("SELECT 1")
        if not r.errors or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r.rows == [["1"]], r.errors
    c.close()
