"""Pipelining: fast one-statement reads of several clients queued on one server connection.

One worker and a small pool, so concurrent clients share connections. Every answer is checked
against what the row holds: a reply handed to the wrong client, or a setting of one client
seen by another, fails the test.
"""

import re
import socket
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

from harness import Mosaic, serving
import pgwire

ROWS = 2000
CLIENTS = 12


@pytest.fixture(scope="module")
def pipe():
    # Few prepared statements per server connection: the prepared tests below use more, so
    # shared connections keep closing some and parsing others.
    with serving(Mosaic(nodes=1, name="pipeline", config_text="max_prepared_statements = 3\n",
                        extra_args=["--workers", "1", "--pool-size", "3", "--pipeline-depth", "4"])) as m:
        c = m.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("CREATE TABLE kv (k int PRIMARY KEY, v int NOT NULL, tag text NOT NULL, at timestamptz NOT NULL)")
        cur.execute(f"INSERT INTO kv SELECT g, g * 7, 't' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' "
                    f"FROM generate_series(1, {ROWS}) g")
        # The shapes below run fast: let the router see them before the tests count on it.
        for k in range(1, 40):
            cur.execute("SELECT k, v, tag FROM kv WHERE k = %s", (k,))
            cur.execute("SELECT 100 / (v - %s) FROM kv WHERE k = %s", (0, k))
            cur.execute("SELECT at::text FROM kv WHERE k = %s", (k,))
        c.close()
        # The prepared statements' shapes too (a prepared statement has its own shape: $1).
        w = prepared_conn(m)
        for k in range(1, 40):
            for i in range(len(PREPARED)):
                assert run_prepared(w, i, k).rows == [expected_row(i, k)]
        w.close()
        yield m


# Prepared statements over the extended protocol, as libpq's PQexecPrepared sends them (Bind,
# Describe portal, Execute, Sync in one write); they differ in text, so each needs its own
# Parse on every server connection it runs on.
PREPARED = [
    "SELECT k, v, tag FROM kv WHERE k = $1",
    "SELECT k, v + 1, tag FROM kv WHERE k = $1",
    "SELECT k, v + 2, tag FROM kv WHERE k = $1",
    "SELECT k, v + 3, tag FROM kv WHERE k = $1",
    "SELECT k, 100 / (v - $2::int), tag FROM kv WHERE k = $1",
]


def expected_row(i, k, divisor_gap=4):
    if i == 4:
        return [str(k), str(100 // divisor_gap), f"t{k}"]
    return [str(k), str(k * 7 + i), f"t{k}"]


def prepared_conn(m):
    c = pgwire.PgConn(m.host, m.port)
    c.startup()
    for i, sql in enumerate(PREPARED):
        c.send(pgwire.parse_msg(f"s{i}", sql) + pgwire.sync_msg())
        res = c.read_until_ready()
        assert not res.errors, res.errors
    return c


def run_prepared(c, i, k, gap=4):
    params = (k,) if i != 4 else (k, k * 7 - gap)
    c.send(pgwire.bind_msg("", f"s{i}", params) + pgwire.describe_msg("P", "") + pgwire.execute_msg() +
           pgwire.sync_msg())
    return c.read_until_ready()


def pipelined(m):
    match = re.search(r"^mosaic_pipelined_statements_total (\d+)", m.metrics(), re.M)
    assert match, "mosaic_pipelined_statements_total missing from /metrics"
    return int(match.group(1))


def run_clients(m, body, clients=CLIENTS, open_client=None, **connect_kw):
    """Runs body(index, cursor) in `clients` threads, each with its own autocommit connection
    (or body(index, handle) with (connection, handle) from open_client()); re-raises the first
    failure."""
    errors = []
    start = threading.Barrier(clients)

    def autocommit_cursor():
        c = m.connect(**connect_kw)
        c.autocommit = True
        return c, c.cursor()

    def worker(i):
        try:
            c, handle = (open_client or autocommit_cursor)()
            start.wait(timeout=30)
            body(i, handle)
            c.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    if errors:
        raise errors[0]


def test_concurrent_reads_each_get_their_own_row(pipe):
    before = pipelined(pipe)

    def body(i, cur):
        for n in range(400):
            k = (i * 997 + n * 31) % ROWS + 1
            cur.execute("SELECT k, v, tag FROM kv WHERE k = %s", (k,))
            assert cur.fetchall() == [(k, k * 7, f"t{k}")]

    run_clients(pipe, body)
    # Some of the 4800 statements really shared a connection (a pool of 3 for 12 clients).
    assert pipelined(pipe) - before > 50


def test_an_error_stays_with_the_statement_that_raised_it(pipe):
    before = pipelined(pipe)

    def body(i, cur):
        for n in range(200):
            k = (i * 131 + n * 17) % ROWS + 1
            if (i + n) % 5 == 0:
                # v - 7k is zero: this client, and only this one, gets 22012
                with pytest.raises(psycopg2.errors.DivisionByZero):
                    cur.execute("SELECT 100 / (v - %s) FROM kv WHERE k = %s", (k * 7, k))
            else:
                cur.execute("SELECT 100 / (v - %s) FROM kv WHERE k = %s", (k * 7 - 4, k))
                assert cur.fetchall() == [(25,)]

    run_clients(pipe, body)
    assert pipelined(pipe) - before > 50


def test_clients_with_other_settings_never_share_a_connection(pipe):
    """Half the clients in UTC, half in +05:30: each must see its own offset on every row."""
    zones = {0: ("UTC", "+00"), 1: ("Asia/Kolkata", "+05:30")}

    def body(i, cur):
        zone, suffix = zones[i % 2]
        cur.execute(f"SET TimeZone = '{zone}'")
        for n in range(300):
            k = (i * 53 + n * 7) % ROWS + 1
            cur.execute("SELECT at::text FROM kv WHERE k = %s", (k,))
            (text,) = cur.fetchone()
            assert text.endswith(suffix), (zone, k, text)

    before = pipelined(pipe)
    run_clients(pipe, body)
    assert pipelined(pipe) - before > 50


def test_a_client_that_leaves_with_a_statement_queued_disturbs_no_one(pipe):
    """Clients that read once, send another read and hang up at once (their statement is
    orphaned on the shared connection), alone and then among clients checking every answer."""
    stop = threading.Event()
    leavers_done = []

    def leaver(rounds):
        n = 0
        while not stop.is_set() and n < rounds:
            c = pgwire.PgConn(pipe.host, pipe.port)
            c.startup()
            k = n % ROWS + 1
            assert c.simple(f"SELECT k, v, tag FROM kv WHERE k = {k}").rows == [[str(k), str(k * 7), f"t{k}"]]
            c.send(pgwire.query_msg(f"SELECT k, v, tag FROM kv WHERE k = {k}"))
            c.close()
            n += 1
        leavers_done.append(n)

    def leavers(rounds):
        threads = [threading.Thread(target=leaver, args=(rounds,)) for _ in range(3)]
        for t in threads:
            t.start()
        return threads

    # Alone, their reads share a connection only when two happen to overlap (a few dozen of
    # 600 in most runs, a dozen in some): this part checks that hanging up leaves the pool usable.
    for t in leavers(100):
        t.join(120)
    assert sum(leavers_done) == 300

    def body(i, cur):
        for n in range(300):
            k = (i * 389 + n * 13) % ROWS + 1
            cur.execute("SELECT k, v, tag FROM kv WHERE k = %s", (k,))
            assert cur.fetchall() == [(k, k * 7, f"t{k}")]

    # Among 8 clients reading all the time (11 clients, 3 connections) the leavers' orphaned
    # reads sit on connections other clients' reads share.
    before = pipelined(pipe)
    threads = leavers(300)
    try:
        run_clients(pipe, body, clients=8)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert sum(leavers_done) > 300
    assert pipelined(pipe) - before > 50
    # The router is healthy and the pool whole: one more round of checked reads.
    run_clients(pipe, body, clients=4)
    assert pipe.alive()


def test_writes_and_transactions_are_not_pipelined(pipe):
    """Writes and statements inside a transaction keep a connection to themselves: the count
    of pipelined statements does not move while only they run."""
    c = pipe.connect()
    cur = c.cursor()  # not autocommit: every statement is inside a transaction block
    before = pipelined(pipe)
    for k in range(1, 50):
        cur.execute("SELECT k, v, tag FROM kv WHERE k = %s", (k,))
        assert cur.fetchone() == (k, k * 7, f"t{k}")
    c.commit()
    c.autocommit = True
    for k in range(1, 50):
        cur.execute("UPDATE kv SET v = v WHERE k = %s", (k,))
    assert pipelined(pipe) == before
    c.close()


def run_wire_clients(m, body, clients=CLIENTS):
    """run_clients with raw protocol connections that prepared the PREPARED statements."""
    def open_client():
        c = prepared_conn(m)
        return c, c

    run_clients(m, body, clients, open_client=open_client)


def test_prepared_reads_are_pipelined_and_each_get_their_own_row(pipe):
    """Clients running five prepared statements (more than a server connection keeps: 3) by
    Bind/Describe/Execute/Sync: every answer is the row asked for, with the row description of
    its own statement, and many statements shared a connection."""
    before = pipelined(pipe)

    def body(i, c):
        for n in range(300):
            k = (i * 991 + n * 37) % ROWS + 1
            s = (i + n) % 4
            res = run_prepared(c, s, k)
            assert not res.errors, res.errors
            assert res.types() == "2TDCZ", res.types()  # BindComplete, RowDescription, row, tag, ready
            assert res.rows == [expected_row(s, k)], (s, k, res.rows)
            assert res.status == "I"

    run_wire_clients(pipe, body)
    assert pipelined(pipe) - before > 50


def test_a_prepared_statements_error_ends_only_that_statement(pipe):
    """One prepared statement divides by zero for some clients' parameters: those clients get
    22012 and ReadyForQuery, and their next statement works; the others never see an error."""
    before = pipelined(pipe)

    def body(i, c):
        for n in range(200):
            k = (i * 211 + n * 19) % ROWS + 1
            if (i + n) % 5 == 0:
                res = run_prepared(c, 4, k, gap=0)
                assert [e["C"] for e in res.errors] == ["22012"], res.messages
                assert res.status == "I"
            else:
                s = 4 if n % 2 else n % 4
                res = run_prepared(c, s, k)
                assert not res.errors, res.errors
                assert res.rows == [expected_row(s, k)], (s, k, res.rows)

    run_wire_clients(pipe, body)
    assert pipelined(pipe) - before > 50


def test_unnamed_statements_sent_as_node_postgres_does_are_pipelined(pipe):
    """Parse of the unnamed statement, Bind, Describe, Execute and Sync in one write (what
    node-postgres sends for a query with parameters): the same replies as from PostgreSQL
    (ParseComplete first; a parameter that is no integer fails at Bind with 22P02), each
    client its own row, and many statements shared a connection."""
    before = pipelined(pipe)

    def body(i, c):
        for n in range(300):
            k = (i * 557 + n * 41) % ROWS + 1
            s = (i + n) % 4
            bad = n % 7 == 3
            c.send(pgwire.parse_msg("", PREPARED[s]) + pgwire.bind_msg("", "", ("x" if bad else k,)) +
                   pgwire.describe_msg("P", "") + pgwire.execute_msg() + pgwire.sync_msg())
            res = c.read_until_ready()
            if bad:
                assert res.types() == "1EZ", res.messages
                assert [e["C"] for e in res.errors] == ["22P02"], res.errors
            else:
                assert res.types() == "12TDCZ", res.messages
                assert res.rows == [expected_row(s, k)], (s, k, res.rows)
            assert res.status == "I"

    run_wire_clients(pipe, body)
    assert pipelined(pipe) - before > 50


def test_a_cancel_ends_a_read_at_once_wherever_it_waits(pipe):
    """16 clients read a table locked on the node; with 3 server connections of at most 4
    statements each, a read runs on a connection, waits behind another client's read on one,
    or waits for one. A cancel request ends each at once with 57014 while the lock is still
    held (a queued read is not cancelled on the server, where the request could hit another
    client's statement: it is answered by Mosaic and its reply dropped when it comes). Once
    the lock goes, every client gets its own row."""
    clients = 16
    shape = "SELECT k, v, tag, 'cancel' FROM kv WHERE k = %s"  # a shape of its own (its latency)
    conns = [pipe.connect() for _ in range(clients)]
    for c in conns:
        c.autocommit = True
    with conns[0].cursor() as cur:
        for k in range(1, 40):
            cur.execute(shape, (k,))
    node = pipe.connect_node(pipe.nodes()[0])
    lock = node.cursor()
    lock.execute("LOCK TABLE kv IN ACCESS EXCLUSIVE MODE")  # held until node.rollback()
    before = pipelined(pipe)
    outcome = [None] * clients

    def read(i):
        try:
            with conns[i].cursor() as cur:
                cur.execute(shape, (i + 1,))
            outcome[i] = "ran"
        except psycopg2.errors.QueryCanceled:
            outcome[i] = ("canceled", time.monotonic())
        except Exception as e:  # noqa: BLE001 - reported below
            outcome[i] = e

    threads = [threading.Thread(target=read, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(2)
    assert outcome == [None] * clients, outcome  # every read waits on the lock or a connection
    assert pipelined(pipe) - before >= 2, "no read shared a connection"
    sent = time.monotonic()
    for c in conns:
        c.cancel()
    for t in threads:
        t.join(15)
    assert not any(t.is_alive() for t in threads), "a read outlived its cancel"
    assert all(isinstance(o, tuple) and o[0] == "canceled" for o in outcome), outcome
    assert max(o[1] for o in outcome) - sent < 5, "a cancel waited for the lock"
    node.rollback()
    node.close()
    for i, c in enumerate(conns):
        with c.cursor() as cur:
            for k in (i + 1, i + 101):
                cur.execute(shape, (k,))
                assert cur.fetchall() == [(k, k * 7, f"t{k}", "cancel")]
        c.close()


def test_a_client_that_stops_reading_does_not_stall_reads_queued_behind_it():
    """One server connection, shared by every fast read: a client that sends a read of 24 MB
    of rows and then reads nothing must not hold up the clients whose reads run after it there.
    Their replies come through; its own reply waits in the router until it reads, whole."""
    rows, width = 3000, 8192
    with serving(Mosaic(nodes=1, name="slowreader",
                        extra_args=["--workers", "1", "--pool-size", "1", "--pipeline-depth", "4"])) as m:
        c = m.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("CREATE TABLE blobs (id int PRIMARY KEY, grp int NOT NULL, body text NOT NULL)")
        cur.execute("CREATE INDEX ON blobs (grp)")
        cur.execute("INSERT INTO blobs SELECT g, g, 'b' || g FROM generate_series(2, 40) g")
        cur.execute("INSERT INTO blobs SELECT 100 + g, 1, repeat('x', %s) FROM generate_series(1, %s) g", (width, rows))
        # The shape runs fast for the small groups: it is pipelined from here on.
        for k in range(2, 41):
            cur.execute("SELECT id, body FROM blobs WHERE grp = %s", (k,))
        c.close()
        before = pipelined(m)

        fast = [pgwire.PgConn(m.host, m.port, timeout=20) for _ in range(3)]
        for f in fast:
            f.startup()
        slow = pgwire.PgConn(m.host, m.port, timeout=20)
        # A small receive buffer: the kernel would otherwise take up to 32 MB of the rows here.
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        slow.startup()
        slow.send(pgwire.query_msg("SELECT id, body FROM blobs WHERE grp = 1"))
        time.sleep(0.01)

        errors = []

        def reader(f, i):
            try:
                for n in range(20):
                    k = (i * 7 + n) % 39 + 2
                    assert f.simple(f"SELECT id, body FROM blobs WHERE grp = {k}").rows == [[str(k), f"b{k}"]]
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=reader, args=(f, i)) for i, f in enumerate(fast)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        elapsed = time.monotonic() - started
        assert not errors, errors[0]
        assert elapsed < 15, f"reads behind the client that does not read took {elapsed:.1f} s"
        assert pipelined(m) - before > 0  # the big read ran on the shared connection

        # The client that did not read gets all its rows when it does.
        res = slow.read_until_ready()
        assert not res.errors and res.tags == [f"SELECT {rows}"]
        assert sorted(int(r[0]) for r in res.rows) == list(range(101, 101 + rows))
        assert all(r[1] == "x" * width for r in res.rows)
        assert slow.simple("SELECT id, body FROM blobs WHERE grp = 3").rows == [["3", "b3"]]
        for f in fast + [slow]:
            f.close()
        assert m.alive()
