"""The PostgreSQL v3 protocol on raw sockets: special startup requests, malformed
messages, cancellation, and the extended protocol written by hand."""

import re
import struct
import threading
import time

import psycopg2
import pytest

import pgwire
from pgwire import (PgConn, bind_msg, close_msg, describe_msg, execute_msg, parse_msg,
                    query_msg, sync_msg)


def raw(mosaic, timeout=15):
    return PgConn(mosaic.host, mosaic.port, timeout=timeout)


def started(mosaic, **kw):
    c = raw(mosaic)
    res = c.startup(**kw)
    assert res.status == "I"
    return c


def expect_fatal_08p01_and_close(c):
    """Read until an ErrorResponse; it must be FATAL 08P01, and then the socket closes."""
    while True:
        t, p = c.read_msg()
        if t == "E":
            fields = pgwire.parse_error_fields(p)
            break
        assert t in ("N", "S"), f"unexpected message {t!r} before the error"
    assert fields.get("S") == "FATAL", fields
    assert fields.get("C") == "08P01", fields
    assert c.wait_closed(5), "server did not close the connection after a FATAL error"
    return fields


def assert_server_alive(mosaic, pre_existing):
    cur = pre_existing.cursor()
    cur.execute("SELECT 'old conn ok'")
    assert cur.fetchone() == ("old conn ok",)
    pre_existing.rollback()
    fresh = mosaic.connect()
    cur = fresh.cursor()
    cur.execute("SELECT 'new conn ok'")
    assert cur.fetchone() == ("new conn ok",)
    fresh.close()


# ---------------------------------------------------------------- startup requests

def test_ssl_request_refused_then_plain_startup(mosaic):
    c = raw(mosaic)
    try:
        c.send(pgwire.ssl_request())
        assert c.recv_exact(1) == b"N"
        res = c.startup()
        assert res.status == "I"
        assert "server_version" in c.params, c.params
        assert c.backend_pid is not None, "no BackendKeyData"
        r = c.simple("SELECT 6 * 7")
        assert r.errors == [] and r.rows == [["42"]] and r.tags == ["SELECT 1"]
    finally:
        c.close()


def test_gssenc_request_refused(mosaic):
    c = raw(mosaic)
    try:
        c.send(pgwire.gssenc_request())
        assert c.recv_exact(1) == b"N"
        # the connection stays usable for a normal startup
        c.startup()
        r = c.simple("SELECT 'gss-less'")
        assert r.rows == [["gss-less"]]
    finally:
        c.close()


def test_ssl_then_gssenc_then_startup(mosaic):
    c = raw(mosaic)
    try:
        c.send(pgwire.gssenc_request())
        assert c.recv_exact(1) == b"N"
        c.send(pgwire.ssl_request())
        assert c.recv_exact(1) == b"N"
        c.startup()
        assert c.simple("SELECT 1").rows == [["1"]]
    finally:
        c.close()


def test_empty_query_and_multi_statement(mosaic):
    c = started(mosaic)
    try:
        r = c.simple("")
        assert r.types() == "IZ", r.types()  # EmptyQueryResponse
        r = c.simple("SELECT 1; SELECT 'two', 2")
        assert r.errors == []
        assert r.types() == "TDCTDCZ", r.types()
        assert r.rows == [["1"], ["two", "2"]]
        r = c.simple("BEGIN")
        assert r.status == "T"
        r = c.simple("SELECT broken(")
        assert r.status == "E" and r.errors[0]["C"] == "42601"
        r = c.simple("ROLLBACK")
        assert r.status == "I" and r.tags == ["ROLLBACK"]
    finally:
        c.close()


# ---------------------------------------------------------------- malformed messages

@pytest.mark.parametrize("bad", [
    pytest.param(b"Q" + struct.pack("!i", 2), id="query-length-2"),
    pytest.param(pgwire.message("z", b"garbage"), id="unknown-type-z"),
    pytest.param(b"Q" + struct.pack("!i", 0x7FFFFFFF) + b"SELECT 1", id="oversized-length"),
    pytest.param(b"Q" + struct.pack("!i", -1), id="negative-length"),
])
def test_malformed_message_fatal_08p01(mosaic, bad):
    before = mosaic.connect()
    c = started(mosaic)
    try:
        c.send(bad)
        expect_fatal_08p01_and_close(c)
    finally:
        c.close()
    assert mosaic.alive(), "mosaic process died"
    assert_server_alive(mosaic, before)
    before.close()


def test_malformed_message_mid_transaction(mosaic, table_name):
    """A protocol violation inside an open transaction kills that client only, and
    its transaction is rolled back on the server (the server connection is not
    handed to another client with the transaction still open)."""
    setup = mosaic.connect()
    setup.autocommit = True
    setup.cursor().execute(f"CREATE TABLE {table_name} (id int)")
    c = started(mosaic)
    try:
        r = c.simple(f"BEGIN; INSERT INTO {table_name} VALUES (1)")
        assert r.status == "T", r.errors
        c.send(pgwire.message("z", b""))
        expect_fatal_08p01_and_close(c)
    finally:
        c.close()
    cur = setup.cursor()
    for _ in range(5):  # whichever server connection we get, the insert is not visible
        cur.execute(f"SELECT count(*) FROM {table_name}")
        assert cur.fetchone()[0] == 0
    setup.close()


# ---------------------------------------------------------------- cancellation

def test_cancel_request_psycopg2(mosaic):
    conn = mosaic.connect()
    outcome = {}

    def run():
        cur = conn.cursor()
        t0 = time.monotonic()
        try:
            cur.execute("SELECT pg_sleep(30)")
            outcome["result"] = "completed"
        except psycopg2.Error as e:
            outcome["error"] = e
        outcome["elapsed"] = time.monotonic() - t0

    th = threading.Thread(target=run)
    th.start()
    time.sleep(1.0)
    t_cancel = time.monotonic()
    conn.cancel()
    th.join(10)
    assert not th.is_alive(), "query still running 10 s after the cancel request"
    assert "error" in outcome, outcome
    assert outcome["error"].pgcode == "57014", outcome["error"]
    assert time.monotonic() - t_cancel < 3.0 + 0.5
    assert outcome["elapsed"] < 5.0
    conn.rollback()
    cur = conn.cursor()
    cur.execute("SELECT 'after cancel'")
    assert cur.fetchone() == ("after cancel",)
    conn.close()


def test_cancel_request_raw_keys(mosaic):
    """CancelRequest with the BackendKeyData Mosaic sent: a wrong key cancels
    nothing, the right key cancels the running query with 57014."""
    c = started(mosaic)
    try:
        assert c.backend_pid is not None and c.backend_key is not None
        c.send(pgwire.query_msg("SELECT pg_sleep(8)"))
        time.sleep(0.5)
        # wrong key: ignored (the query must keep running)
        bad = raw(mosaic)
        bad.send(pgwire.cancel_request(c.backend_pid, c.backend_key ^ 0x5A5A5A5A))
        assert bad.wait_closed(5)
        bad.close()
        got = c.pending_messages(wait=1.0)
        # asynchronous ParameterStatus messages may arrive; nothing else may
        assert [t for t, _ in got if t != "S"] == [], \
            f"a cancel request with a wrong key ended the query: {got}"
        t0 = time.monotonic()
        good = raw(mosaic)
        good.send(pgwire.cancel_request(c.backend_pid, c.backend_key))
        assert good.wait_closed(5)
        good.close()
        r = c.read_until_ready()
        assert time.monotonic() - t0 < 3.0
        assert [e["C"] for e in r.errors] == ["57014"], r.errors
        assert r.status == "I"
        assert c.simple("SELECT 'still here'").rows == [["still here"]]
    finally:
        c.close()


# ---------------------------------------------------------------- extended protocol

def prepare(c, name, sql, types=()):
    c.send(parse_msg(name, sql, types) + sync_msg())
    r = c.read_until_ready()
    assert r.errors == [], r.errors
    assert r.types() == "1Z", r.types()
    assert r.status == "I"
    # a ParameterStatus may arrive at any time, but must not change what this
    # client's session looks like (it changed no setting)
    for k, v in r.param_status:
        assert v == c.startup_params.get(k), (k, v, c.startup_params.get(k))


def bind_execute(c, name, params):
    c.send(bind_msg("", name, params) + execute_msg("", 0) + sync_msg())
    return c.read_until_ready()


def test_extended_named_statement_across_transactions_concurrently(mosaic):
    """Two clients prepare different statements under the same name "s1" once, then
    Bind/Execute them in many separate transactions at the same time. With
    transaction pooling each transaction may run on another server connection, so
    Mosaic must make "s1" mean the right statement for each client every time."""
    iterations = 1000
    factors = {0: 2, 1: 3}
    clients = [started(mosaic) for _ in factors]
    noise_stop = threading.Event()
    errors = []

    for i, c in enumerate(clients):
        prepare(c, "s1", f"SELECT $1::int * {factors[i]}, $2::text || '-{i}', pg_backend_pid()")

    backends = {0: set(), 1: set()}

    def worker(i):
        c = clients[i]
        try:
            for k in range(iterations):
                r = bind_execute(c, "s1", (k, f"v{k}"))
                if r.errors or r.rows != [[str(k * factors[i]), f"v{k}-{i}", r.rows[0][2]]] \
                        or r.status != "I" or r.tags != ["SELECT 1"]:
                    errors.append((i, k, r.types(), r.rows, r.errors))
                    return
                backends[i].add(r.rows[0][2])
                changed = [(n, v) for n, v in r.param_status if v != c.startup_params.get(n)]
                if changed:
                    errors.append((i, k, "session parameters changed", changed))
                    return
                if k % 50 == 25:  # an explicit transaction in between
                    t = c.simple("BEGIN; SELECT 1; COMMIT")
                    if t.errors:
                        errors.append((i, k, "simple", t.errors))
                        return
        except Exception as e:  # noqa: BLE001
            errors.append((i, "exception", repr(e)))

    def noise():
        # other clients keep taking and returning server connections
        n = started(mosaic)
        try:
            while not noise_stop.is_set():
                n.simple("BEGIN; SELECT pg_sleep(0.002); COMMIT")
        finally:
            n.close()

    noisers = [threading.Thread(target=noise) for _ in range(3)]
    for t in noisers:
        t.start()
    workers = [threading.Thread(target=worker, args=(i,)) for i in factors]
    for t in workers:
        t.start()
    for t in workers:
        t.join(90)
    noise_stop.set()
    for t in noisers:
        t.join(10)
    alive = [t for t in workers if t.is_alive()]
    for c in clients:
        c.close()
    assert not alive, "extended-protocol loop hung"
    assert not errors, errors[:5]
    print("server backends used per client:", {i: len(b) for i, b in backends.items()})


def test_extended_pipeline_without_intermediate_sync(mosaic):
    c = started(mosaic)
    try:
        prepare(c, "sq", "SELECT $1::int * $1::int")
        batch = b""
        for k in range(20):
            batch += bind_msg("", "sq", (k,)) + execute_msg("", 0)
        c.send(batch + sync_msg())
        r = c.read_until_ready()
        assert r.errors == []
        assert r.rows == [[str(k * k)] for k in range(20)]
        assert r.types() == "2DC" * 20 + "Z"
        # unnamed statement, Describe, portal with row limit
        c.send(parse_msg("", "SELECT g FROM generate_series(1, 5) g") + bind_msg("p1", "")
               + describe_msg("P", "p1") + execute_msg("p1", 2) + execute_msg("p1", 0)
               + sync_msg())
        r = c.read_until_ready()
        assert r.errors == []
        assert r.types() == "12TDDsDDDCZ", r.types()
        assert r.rows == [["1"], ["2"], ["3"], ["4"], ["5"]]
    finally:
        c.close()


def test_close_statement_then_bind_26000(mosaic):
    c = started(mosaic)
    try:
        prepare(c, "s1", "SELECT $1::int + 1")
        r = bind_execute(c, "s1", (41,))
        assert r.rows == [["42"]], r.errors
        c.send(close_msg("S", "s1") + sync_msg())
        r = c.read_until_ready()
        assert r.errors == [] and r.types() == "3Z", (r.types(), r.errors)
        r = bind_execute(c, "s1", (1,))
        assert [e["C"] for e in r.errors] == ["26000"], r.errors
        assert r.rows == []
        assert r.status == "I"
        # the name is free again and the connection works
        prepare(c, "s1", "SELECT $1::int + 100")
        r = bind_execute(c, "s1", (1,))
        assert r.rows == [["101"]], r.errors
        # closing a statement that does not exist is not an error
        c.send(close_msg("S", "never_prepared") + sync_msg())
        r = c.read_until_ready()
        assert r.errors == [] and r.types() == "3Z"
    finally:
        c.close()


def test_deallocate_of_protocol_statements_as_postgresql(mosaic):
    """SQL DEALLOCATE drops a statement prepared over the extended protocol, as PostgreSQL does
    (psycopg 3 evicts its cached statements so); DEALLOCATE ALL drops them all. Differential:
    the same messages to Mosaic and to a node directly get the same replies. On the binary before
    this test Mosaic sent DEALLOCATE to a node, which knew no such statement (26000), and
    DEALLOCATE ALL left the client's statements in place."""
    node = mosaic.nodes()[0]
    steps = [
        parse_msg("d1", "SELECT 1") + parse_msg("d2", "SELECT 2") + parse_msg("d3", "SELECT 3") + sync_msg(),
        query_msg("DEALLOCATE d1"),
        bind_msg("", "d1") + execute_msg() + sync_msg(),          # gone: 26000
        query_msg("DEALLOCATE d1"),                                 # twice: 26000
        bind_msg("", "d2") + execute_msg() + sync_msg(),          # the others stay
        parse_msg("", "DEALLOCATE PREPARE d2") + bind_msg("", "") + execute_msg() + sync_msg(),
        bind_msg("", "d2") + execute_msg() + sync_msg(),
        parse_msg("d1", "SELECT 11") + bind_msg("", "d1") + execute_msg() + sync_msg(),  # the name is free
        # In a failed block: 25P02, and the statement stays.
        query_msg("BEGIN"), query_msg("SELECT 1 / 0"), query_msg("DEALLOCATE d3"), query_msg("ROLLBACK"),
        bind_msg("", "d3") + execute_msg() + sync_msg(),
        query_msg("DEALLOCATE ALL"),
        bind_msg("", "d3") + execute_msg() + sync_msg(),
        parse_msg("d4", "SELECT 4") + sync_msg(),
        parse_msg("", "DEALLOCATE ALL") + bind_msg("", "") + execute_msg() + sync_msg(),
        bind_msg("", "d4") + execute_msg() + sync_msg(),
        query_msg("DEALLOCATE never_prepared"),
    ]
    via, direct = started(mosaic), PgConn(node["host"], node["port"])
    try:
        direct.startup(user=node["user"], database=node["dbname"])
        for i, step in enumerate(steps):
            replies = []
            for c in (via, direct):
                c.send(step)
                r = c.read_until_ready()
                replies.append((r.tags, r.rows, [e["C"] for e in r.errors], r.status))
            assert replies[0] == replies[1], (i, replies)
    finally:
        via.close()
        direct.close()


def test_psycopg3_evicting_prepared_statements(mosaic):
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(host=mosaic.host, port=mosaic.port, user="mosaic", dbname="mosaic",
                         prepare_threshold=0, autocommit=True) as conn:
        conn.prepared_max = 3  # a DEALLOCATE for every statement past the third
        for rounds in range(3):
            for i in range(8):
                assert conn.execute(f"SELECT %s::int + {i}", (rounds,)).fetchone() == (rounds + i,)


def test_parse_same_name_twice_42p05(mosaic):
    c = started(mosaic)
    try:
        prepare(c, "s1", "SELECT 1")
        c.send(parse_msg("s1", "SELECT 2") + sync_msg())
        r = c.read_until_ready()
        assert [e["C"] for e in r.errors] == ["42P05"], r.errors
        assert r.status == "I"
        # the original statement is untouched
        r = bind_execute(c, "s1", ())
        assert r.rows == [["1"]], r.errors
        # an unnamed statement can be replaced freely
        c.send(parse_msg("", "SELECT 3") + parse_msg("", "SELECT 4") + bind_msg("", "")
               + execute_msg() + sync_msg())
        r = c.read_until_ready()
        assert r.errors == [] and r.rows == [["4"]]
    finally:
        c.close()


def test_extended_error_skips_until_sync(mosaic):
    c = started(mosaic)
    try:
        c.send(parse_msg("", "SELECT 1/(g - $1::int) FROM generate_series(1, 2) g")
               + bind_msg("", "", (1,)) + execute_msg()
               + parse_msg("", "SELECT 'skipped'") + bind_msg("", "") + execute_msg()
               + sync_msg())
        r = c.read_until_ready()
        assert [e["C"] for e in r.errors] == ["22012"]
        assert r.rows == []
        assert r.types() == "12EZ", r.types()
        assert r.status == "I"
        assert c.simple("SELECT 'ok'").rows == [["ok"]]
    finally:
        c.close()


def test_a_statement_failing_on_its_node_at_parse_analysis_gets_one_error(mosaic, table_name):
    # Parse/Bind/Execute/Sync of a statement on a routed table that the node rejects when it
    # parses it (unknown column, a value of the wrong type): one ErrorResponse, then
    # ReadyForQuery, as from PostgreSQL (which answers the Parse with it). Before, Mosaic sent
    # the error twice.
    c = started(mosaic)
    try:
        r = c.simple(f"CREATE TABLE {table_name} (tenant_id int NOT NULL, id int NOT NULL)")
        assert r.errors == [], r.errors
        for sql, code in ((f"SELECT nosuch FROM {table_name} WHERE tenant_id = 3", "42703"),
                          (f"SELECT id FROM {table_name} WHERE tenant_id = 3 AND id = 'x'", "22P02"),
                          (f"SELECT nosuch FROM {table_name} WHERE tenant_id = $1", "42703"),
                          (f"SELECT nosuch FROM {table_name}", "42703")):
            params = ("3",) if "$1" in sql else ()
            for _ in range(2):  # the second time its connection may be shared with others
                c.send(parse_msg("", sql) + bind_msg("", "", params) + execute_msg() + sync_msg())
                r = c.read_until_ready()
                assert [e["C"] for e in r.errors] == [code], (sql, r.errors)
                assert r.types() == "EZ", (sql, r.types())
                assert r.status == "I"
        assert c.simple(f"SELECT count(*) FROM {table_name} WHERE tenant_id = 3").rows == [["0"]]
    finally:
        c.close()


def create_spread_table(c, name):
    """A distributed table with one row for each of tenants 1..8 (over the nodes)."""
    assert c.simple(f"CREATE TABLE {name} (tenant_id int NOT NULL, id int NOT NULL)").errors == []
    values = ", ".join(f"({t}, {t})" for t in range(1, 9))
    assert c.simple(f"INSERT INTO {name} VALUES {values}").errors == []


def test_a_relation_mosaic_does_not_know_gets_postgresqls_42p01_over_the_extended_protocol(mosaic, table_name):
    # A table just dropped (or a typo) over Parse/Bind/Describe/Execute/Sync: PostgreSQL's 42P01
    # with its message and position, as over the simple protocol, also for a statement whose
    # shape ran fast before (its Parse is then deferred to the Bind, which refused it with 0A000).
    c = started(mosaic)
    try:
        create_spread_table(c, table_name)
        sql = f"SELECT count(*) FROM {table_name} WHERE tenant_id = $1"
        unit = parse_msg("", sql) + bind_msg("", "", ("3",)) + describe_msg("P", "") + execute_msg() + sync_msg()
        # Until the shape is fast enough to be pipelined (its Parse deferred to the Bind).
        pipelined = mosaic.metric("mosaic_pipelined_statements_total")
        for i in range(200):
            c.send(unit)
            r = c.read_until_ready()
            assert r.errors == [] and r.rows == [["1"]], r.errors
            if i > 0 and mosaic.metric("mosaic_pipelined_statements_total") > pipelined:
                break
        else:
            pytest.fail("the statement was never pipelined")
        assert c.simple(f"DROP TABLE {table_name}").errors == []
        typo = f"SELECT count(*) FROM {table_name}_typo WHERE tenant_id = $1"
        for text in (sql, typo):
            name = text.split()[3]
            simple = c.simple(text.replace("$1", "3"))
            assert [(e["C"], e["M"], e.get("P")) for e in simple.errors] == \
                [("42P01", f'relation "{name}" does not exist', "22")], simple.errors
            for _ in range(2):
                c.send(parse_msg("", text) + bind_msg("", "", ("3",)) + describe_msg("P", "") + execute_msg()
                       + sync_msg())
                r = c.read_until_ready()
                assert [(e["S"], e["C"], e["M"], e.get("P")) for e in r.errors] == \
                    [("ERROR", "42P01", f'relation "{name}" does not exist', "22")], (text, r.errors)
                assert r.types() == "EZ", (text, r.types())
                assert r.status == "I"
        assert c.simple("SELECT 1").rows == [["1"]]
    finally:
        c.close()


def test_a_query_over_several_nodes_failing_as_it_runs_sends_its_row_description_first(mosaic, table_name):
    # PostgreSQL describes the result before it runs the query: a runtime error (division by
    # zero) comes after the RowDescription, and after the rows sent before it (the result
    # streams: other nodes' rows may come first). A parse-analysis error comes alone.
    c = started(mosaic)
    try:
        create_spread_table(c, table_name)
        r = c.simple(f"SELECT 1 / (id - 5) AS q FROM {table_name}")
        assert [e["C"] for e in r.errors] == ["22012"]
        assert re.fullmatch("TD*EZ", r.types()), r.types()
        r = c.simple(f"SELECT nosuch FROM {table_name}")
        assert r.types() == "EZ", r.types()
    finally:
        c.close()


def test_a_block_after_an_extended_batch_that_wrote_on_several_nodes_rolls_back(mosaic, table_name):
    # A batch writing on several nodes runs in an implicit transaction Mosaic ends at its Sync;
    # its servers stayed linked, idle, and a BEGIN that followed did not reach them: the block's
    # statements there committed one by one, and ROLLBACK left them in place (on the binary
    # before this test: 8 rows of id 101 after the ROLLBACK). A BEGIN inside a batch whose
    # earlier statement ran on a node takes that statement into the block, as in PostgreSQL.
    c = started(mosaic)
    try:
        create_spread_table(c, table_name)
        rows = ", ".join(f"({t}, 100)" for t in range(1, 9))
        c.send(parse_msg("", f"INSERT INTO {table_name} VALUES {rows}") + bind_msg("", "") + execute_msg() + sync_msg())
        r = c.read_until_ready()
        assert r.errors == [] and r.tags == ["INSERT 0 8"] and r.status == "I", (r.errors, r.tags)
        assert c.simple("BEGIN").status == "T"
        r = c.simple(f"INSERT INTO {table_name} VALUES " + ", ".join(f"({t}, 101)" for t in range(1, 9)))
        assert r.errors == [] and r.status == "T", r.errors
        assert c.simple("ROLLBACK").status == "I"
        assert c.simple(f"SELECT count(*) FROM {table_name} WHERE id = 101").rows == [["0"]]

        c.send(parse_msg("", f"INSERT INTO {table_name} VALUES (1, 102)") + bind_msg("", "") + execute_msg()
               + parse_msg("", "BEGIN") + bind_msg("", "") + execute_msg()
               + parse_msg("", f"INSERT INTO {table_name} VALUES (1, 103), (2, 103), (3, 103)") + bind_msg("", "")
               + execute_msg() + sync_msg())
        r = c.read_until_ready()
        assert r.errors == [] and r.status == "T", r.errors
        assert c.simple("ROLLBACK").status == "I"
        assert c.simple(f"SELECT count(*) FROM {table_name} WHERE id IN (102, 103)").rows == [["0"]]
    finally:
        c.close()


# ---------------------------------------------------------------- pooling hazards

def test_stale_cancel_does_not_hit_another_client(mosaic):
    """Client A's CancelRequest, sent when A has nothing running, must not cancel
    client B's query, even if B now runs on the server connection A used before."""
    a = started(mosaic)
    b = started(mosaic)
    try:
        assert a.simple("SELECT 1").rows == [["1"]]  # A's transaction ends: server conn back to pool
        b.send(pgwire.query_msg("SELECT pg_sleep(2), 'b done'"))
        time.sleep(0.5)
        k = raw(mosaic)
        k.send(pgwire.cancel_request(a.backend_pid, a.backend_key))
        assert k.wait_closed(5)
        k.close()
        r = b.read_until_ready()
        assert r.errors == [], f"B's query was cancelled by A's cancel request: {r.errors}"
        assert r.rows == [["", "b done"]]
        assert a.simple("SELECT 'a ok'").rows == [["a ok"]]
    finally:
        a.close()
        b.close()


def test_client_vanishing_in_transaction_releases_locks(mosaic, table_name):
    setup = mosaic.connect()
    setup.autocommit = True
    scur = setup.cursor()
    scur.execute(f"CREATE TABLE {table_name} (id int)")
    a = started(mosaic)
    r = a.simple(f"BEGIN; INSERT INTO {table_name} VALUES (1); "
                 f"LOCK TABLE {table_name} IN ACCESS EXCLUSIVE MODE")
    assert r.errors == [] and r.status == "T"
    a.close()  # no Terminate, no ROLLBACK: the socket just goes away
    # the server transaction must be rolled back promptly: lock released, no row
    c = pgwire.PgConn(mosaic.host, mosaic.port, timeout=10)
    try:
        c.startup()
        t0 = time.monotonic()
        r = c.simple(f"SELECT count(*) FROM {table_name}")
        assert r.errors == [], r.errors
        assert r.rows == [["0"]]
        assert time.monotonic() - t0 < 5
    finally:
        c.close()
    setup.close()


def test_client_vanishing_mid_query_no_stray_results(mosaic):
    """A client that disconnects while its query runs must not leave that query's
    results to be read by the next client of the same server connection."""
    for _ in range(3):
        a = started(mosaic)
        a.send(pgwire.query_msg("SELECT pg_sleep(0.5), 'stray result from A'"))
        time.sleep(0.1)
        a.close()
    deadline = time.monotonic() + 3
    c = started(mosaic)
    try:
        n = 0
        while time.monotonic() < deadline:
            r = c.simple(f"SELECT 'mine {n}'")
            assert r.errors == [] and r.rows == [[f"mine {n}"]], (r.rows, r.errors)
            n += 1
            time.sleep(0.02)
    finally:
        c.close()


# ---------------------------------------------------------------- DDL over the extended protocol

def _exists_on_every_node(mosaic, table):
    found = []
    for node in mosaic.nodes():
        c = mosaic.connect_node(node)
        with c.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
            found.append(cur.fetchone()[0])
        c.close()
    return found


def test_extended_protocol_ddl_reaches_every_node(mosaic, table_name):
    c = started(mosaic)
    try:
        # Unnamed statement, as psycopg 3 and JDBC send every query.
        c.send(parse_msg("", f"CREATE TABLE {table_name} (id int PRIMARY KEY)") + bind_msg("", "")
               + describe_msg("P", "") + execute_msg("", 0) + sync_msg())
        r = c.read_until_ready()
        assert r.errors == [], r.errors
        assert r.types() == "12nCZ", r.types()
        assert r.status == "I"
        assert _exists_on_every_node(mosaic, table_name) == [True, True, True]
        # A named DDL statement run twice: the second run fails on the first node and the
        # other nodes are not touched again.
        c.send(parse_msg("ddl", f"ALTER TABLE {table_name} ADD COLUMN v text") + sync_msg())
        assert c.read_until_ready().errors == []
        c.send(bind_msg("", "ddl") + execute_msg("", 0) + sync_msg())
        r = c.read_until_ready()
        assert r.errors == [] and r.types() == "2CZ", (r.types(), r.errors)
        c.send(bind_msg("", "ddl") + execute_msg("", 0) + sync_msg())
        r = c.read_until_ready()
        assert [e["C"] for e in r.errors] == ["42701"], r.errors  # duplicate column
        assert r.status == "I"
        for node in mosaic.nodes():
            n = mosaic.connect_node(node)
            with n.cursor() as cur:
                cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = %s",
                            (table_name,))
                assert cur.fetchone()[0] == 2
            n.close()
        # Rows still go to the first node only, through the same connection.
        c.send(parse_msg("", f"INSERT INTO {table_name} VALUES (1, 'a')") + bind_msg("", "")
               + execute_msg("", 0) + sync_msg())
        assert c.read_until_ready().errors == []
    finally:
        c.close()


def test_extended_protocol_ddl_inside_a_transaction_rolls_back_everywhere(mosaic, table_name):
    c = started(mosaic)
    try:
        c.send(pgwire.query_msg("BEGIN"))
        assert c.read_until_ready().status == "T"
        c.send(parse_msg("", f"CREATE TABLE {table_name} (id int)") + bind_msg("", "")
               + execute_msg("", 0) + sync_msg())
        r = c.read_until_ready()
        assert r.errors == [] and r.status == "T", r.errors
        c.send(pgwire.query_msg("ROLLBACK"))
        assert c.read_until_ready().status == "I"
        assert _exists_on_every_node(mosaic, table_name) == [False, False, False]
    finally:
        c.close()


def test_server_statement_cache_is_bounded_and_refills(mosaic_factory):
    """With max_prepared_statements = 3, ten named statements still all work: the server
    connection closes some and Mosaic re-prepares them when they are used again."""
    m = mosaic_factory(nodes=1, config_text="max_prepared_statements = 3\npool_size = 1\nworkers = 1\n")
    c = started(m)
    try:
        for i in range(10):
            prepare(c, f"s{i}", f"SELECT $1::int * {i + 1}", (23,))
        for round_ in range(3):
            for i in range(10):
                c.send(bind_msg("", f"s{i}", [str(round_ + 2)]) + execute_msg("", 0) + sync_msg())
                r = c.read_until_ready()
                assert r.errors == [], r.errors
                assert r.rows == [[str((round_ + 2) * (i + 1))]]
        # One worker, one server connection: this query runs on the connection that served
        # all of the above, and shows what it holds prepared.
        c.send(pgwire.query_msg("SELECT count(*) FROM pg_prepared_statements"))
        r = c.read_until_ready()
        assert r.errors == []
        assert 1 <= int(r.rows[0][0]) <= 3, r.rows
    finally:
        c.close()


def test_refusal_of_a_pipelined_query_keeps_reply_order(mosaic):
    """An error Mosaic raises itself comes after the replies to earlier queries still in
    flight, not ahead of them."""
    c = started(mosaic)
    try:
        c.send(pgwire.query_msg("SELECT 41 + 1 FROM pg_sleep(0.2)")
               + pgwire.query_msg("CREATE TEMP TABLE never (a int); INSERT INTO never VALUES (1)"))
        first = c.read_until_ready()
        assert first.errors == [] and first.rows == [["42"]], (first.errors, first.rows)
        second = c.read_until_ready()
        assert [e["C"] for e in second.errors] == ["0A000"], second.errors
        assert second.status == "I"
    finally:
        c.close()


def client_writes(mosaic):
    m = re.search(r"^mosaic_client_writes_total (\S+)$", mosaic.metrics(), re.M)
    assert m, "mosaic_client_writes_total missing from /metrics"
    return float(m.group(1))


def assert_client_writes_at_most(mosaic, run, limit, what):
    """Runs `run(conn)` on a new connection; Mosaic must write to clients at most `limit` times."""
    c = started(mosaic)
    try:
        before = client_writes(mosaic)
        run(c)
        writes = client_writes(mosaic) - before
        assert writes <= limit, f"{writes:.0f} client writes for {what}"
    finally:
        c.close()


def test_begin_and_commit_replies_are_one_client_write_each(mosaic):
    # Mosaic answers BEGIN itself and COMMIT after the node's reply; their CommandComplete and
    # ReadyForQuery leave with one send (pgbench -N's BEGIN and END took two each).
    transactions = 50

    def run(c):
        for i in range(transactions):
            assert c.simple("BEGIN").status == "T"
            res = c.simple(f"SELECT {i}")
            assert res.rows == [[str(i)]] and res.status == "T"
            assert c.simple("COMMIT").status == "I"

    assert_client_writes_at_most(mosaic, run, transactions * 3 * 1.1, f"{transactions} transactions of 3 statements")


def test_pipelined_begin_select_commit_replies_in_order(mosaic):
    # Replies Mosaic makes itself are held until the client's read is handled: they must still
    # come in order with the node's.
    c = started(mosaic)
    try:
        c.send(pgwire.query_msg("BEGIN") + pgwire.query_msg("SELECT 7") + pgwire.query_msg("COMMIT"))
        begin, select, commit = c.read_until_ready(), c.read_until_ready(), c.read_until_ready()
        assert (begin.tags, begin.status) == (["BEGIN"], "T")
        assert (select.rows, select.tags, select.status) == ([["7"]], ["SELECT 1"], "T")
        assert (commit.tags, commit.status) == (["COMMIT"], "I")
    finally:
        c.close()


def test_large_result_to_a_client_that_lags_then_next_query(mosaic):
    # A large result fills the client socket; Mosaic stops reading the server until the client
    # catches up, then must relay the rest and answer the next query on the same connection.
    c = started(mosaic)
    try:
        for _ in range(3):
            c.send(pgwire.query_msg("SELECT repeat('x', 1000) FROM generate_series(1, 8000)"))
            time.sleep(1.0)  # let the output back up
            data = bytearray(c.buf)
            c.buf = b""
            while not data.endswith(b"Z\0\0\0\x05I"):
                chunk = c.sock.recv(1 << 20)
                assert chunk, "connection closed"
                data += chunk
            assert b"SELECT 8000" in data
            assert c.simple("SELECT 1").rows == [["1"]]
    finally:
        c.close()


def test_reply_to_a_query_is_one_client_write(mosaic):
    # A server's reply (RowDescription, DataRow, CommandComplete, ReadyForQuery) arrives in one
    # read; Mosaic relays it with one send, not one per message (a syscall each on the data path).
    queries = 100

    def run(c):
        for i in range(queries):
            res = c.simple(f"SELECT {i}")
            assert res.rows == [[str(i)]] and res.status == "I"

    assert_client_writes_at_most(mosaic, run, queries * 1.2, f"{queries} queries")


# ---------------------------------------------------------------- pipelined simple queries

def test_pipelined_transaction_control_acts_on_the_state_the_queries_before_it_left(mosaic, table_name):
    # Query messages sent in one write without waiting (legal; PostgreSQL answers each in
    # turn). ROLLBACK TO, COMMIT and ROLLBACK must see the error of the query before them: the
    # savepoint makes the block usable again and COMMIT keeps the insert; after an error, the
    # ROLLBACK answers its tag. Before, Mosaic ran them before the error came back: the status
    # stayed 'E' after ROLLBACK TO, COMMIT answered ROLLBACK and the insert was lost.
    setup = mosaic.connect()
    setup.autocommit = True
    setup.cursor().execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY)")
    q = pgwire.query_msg
    c = started(mosaic)
    try:
        c.send(q("BEGIN") + q(f"INSERT INTO {table_name} VALUES (1)") + q("SAVEPOINT a") + q("SELECT 1/0") +
               q("ROLLBACK TO a") + q(f"INSERT INTO {table_name} VALUES (2)") + q("COMMIT"))
        got = [c.read_until_ready() for _ in range(7)]
        assert [(r.tags, [e["C"] for e in r.errors], r.status) for r in got] == [
            (["BEGIN"], [], "T"), (["INSERT 0 1"], [], "T"), (["SAVEPOINT"], [], "T"), ([], ["22012"], "E"),
            (["ROLLBACK"], [], "T"), (["INSERT 0 1"], [], "T"), (["COMMIT"], [], "I")]
        assert c.simple(f"SELECT id FROM {table_name} ORDER BY id").rows == [["1"], ["2"]]
        c.send(q("BEGIN") + q(f"INSERT INTO {table_name} VALUES (3)") + q("SELECT 1/0") + q("ROLLBACK"))
        got = [c.read_until_ready() for _ in range(4)]
        assert [(r.types(), r.status) for r in got] == [("CZ", "T"), ("CZ", "T"), ("EZ", "E"), ("CZ", "I")]
        assert got[3].tags == ["ROLLBACK"]
        assert c.simple(f"SELECT count(*) FROM {table_name}").rows == [["2"]]
    finally:
        c.close()


# ---------------------------------------------------------------- one server connection for every client

def _prepare(c, name, sql):
    c.send(parse_msg(name, sql) + sync_msg())
    return c.read_until_ready()


def _execute(c, name, params=()):
    c.send(bind_msg("", name, params) + execute_msg() + sync_msg())
    return c.read_until_ready()


def _sqlstates(res):
    return [e["C"] for e in res.errors]


@pytest.fixture
def one_connection(mosaic_factory):
    """One node, one worker, one server connection: every client's statements run on it."""
    m = mosaic_factory(nodes=1, extra_args=("--pool-size", "1", "--workers", "1"))
    setup = m.connect()
    setup.autocommit = True
    setup.cursor().execute("CREATE TABLE kv (k int PRIMARY KEY, v text)")
    setup.cursor().execute("INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 10) g")
    return m


# ---------------------------------------------------------------- a client that leaves mid-batch

def test_a_client_that_leaves_before_its_sync_leaves_nothing_to_the_next_client(one_connection):
    # Parse/Bind/Execute of an UPDATE, Flush, the replies, then the client hangs up without a
    # Sync: its statement ran in an implicit transaction that only a Sync ends, and PostgreSQL
    # rolls it back. Before, Mosaic gave the connection back to its pool (its last
    # ReadyForQuery said idle): the next client's statement ran inside that transaction and
    # committed the update; after a failed statement the connection ignored everything.
    m = one_connection
    for sql in ("UPDATE kv SET v = 'never synced' WHERE k = 1", "SELECT 1/0", "SELECT nope FROM kv"):
        a = started(m)
        a.send(parse_msg("", sql) + bind_msg("", "") + execute_msg() + pgwire.flush_msg())
        deadline = time.time() + 10
        while time.time() < deadline:  # ParseComplete .. CommandComplete, or the error
            t, _ = a.read_msg()
            if t in ("C", "E"):
                break
        a.close()
        time.sleep(0.2)
        b = started(m)
        try:
            res = b.simple("SELECT v, now() = statement_timestamp() FROM kv WHERE k = 2")
            assert res.rows == [["v2", "t"]] and res.status == "I", (sql, res.rows, res.errors)
        finally:
            b.close()
    node = m.connect_node(m.nodes()[0])
    cur = node.cursor()
    cur.execute("SELECT v FROM kv WHERE k = 1")
    assert cur.fetchone() == ("v1",)
    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'")
    assert cur.fetchone() == (0,)


# ---------------------------------------------------------------- prepared statements shared on a server

def test_a_statement_whose_plan_went_stale_is_prepared_again(one_connection):
    # After ALTER TABLE, a prepared SELECT * fails with 0A000 "cached plan must not change
    # result type", on PostgreSQL too; there a Close and a new Parse mend it. Mosaic prepares
    # one server statement per text for all its clients: it kept the stale one, and the
    # client's new Parse, and every other client's, failed the same way until the server
    # connection closed.
    m = one_connection
    a, b = started(m), started(m)
    try:
        assert _sqlstates(_prepare(a, "s1", "SELECT * FROM kv WHERE k = $1")) == []
        assert _execute(a, "s1", ("1",)).rows == [["1", "v1"]]
        assert _sqlstates(b.simple("ALTER TABLE kv ADD COLUMN extra int")) == []
        assert _sqlstates(_execute(a, "s1", ("1",))) == ["0A000"]
        a.send(close_msg("S", "s1") + sync_msg())
        assert _sqlstates(a.read_until_ready()) == []
        assert _sqlstates(_prepare(a, "s1", "SELECT * FROM kv WHERE k = $1")) == []
        res = _execute(a, "s1", ("2",))
        assert (res.rows, _sqlstates(res)) == ([["2", "v2", None]], [])
        assert _sqlstates(_prepare(b, "other", "SELECT * FROM kv WHERE k = $1")) == []
        res = _execute(b, "other", ("3",))
        assert (res.rows, _sqlstates(res)) == ([["3", "v3", None]], [])
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("reset", ["DISCARD ALL", "DEALLOCATE ALL"])
def test_discard_all_by_one_client_leaves_the_others_statements_working(one_connection, reset):
    # DISCARD ALL and DEALLOCATE ALL drop every prepared statement of the server connection
    # they run on, other clients' too (Mosaic shares the connection): they used to fail with
    # 26000 from then on, on that connection.
    m = one_connection
    a, b = started(m), started(m)
    try:
        assert _sqlstates(_prepare(b, "bs", "SELECT v FROM kv WHERE k = $1")) == []
        assert _execute(b, "bs", ("3",)).rows == [["v3"]]
        res = a.simple(reset)
        assert (res.tags, _sqlstates(res)) == ([reset], [])
        for k in ("4", "5"):
            res = _execute(b, "bs", (k,))
            assert (res.rows, _sqlstates(res)) == ([["v" + k]], [])
        c = started(m)
        try:
            assert _sqlstates(_prepare(c, "cs", "SELECT v FROM kv WHERE k = $1")) == []
            assert _execute(c, "cs", ("6",)).rows == [["v6"]]
        finally:
            c.close()
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------- COPY FROM STDIN and Sync

def _read_until(c, last):
    types = ""
    while True:
        t, _ = c.read_msg()
        if t != "S":  # ParameterStatus may come at any time
            types += t
        if t == last:
            return types


def test_syncs_the_server_ignores_during_copy_in_get_no_reply(mosaic, table_name):
    # A server in copy-in mode ignores Sync (and Flush). libpq's PQexecParams of a COPY sends
    # Parse/Bind/Describe/Execute/Sync, then the data, CopyDone and Sync: one ReadyForQuery
    # answers both Syncs. Mosaic waited for a second one: the COMMIT after it got no reply
    # and the server connection stayed taken after the client left. Likewise a Sync among
    # a simple-protocol COPY's data.
    setup = mosaic.connect()
    setup.autocommit = True
    setup.cursor().execute(f"CREATE TABLE {table_name} (id int, x text)")
    for end in ("COMMIT", "ROLLBACK"):
        c = started(mosaic)
        try:
            assert c.simple("BEGIN").status == "T"
            c.send(parse_msg("", f"COPY {table_name} FROM STDIN") + bind_msg("", "") + describe_msg("P", "") +
                   execute_msg() + sync_msg())
            assert _read_until(c, "G") == "12nG"
            c.send(pgwire.message("d", b"1\ta\n") + pgwire.message("c") + sync_msg())
            assert _read_until(c, "Z") == "CZ"
            res = c.simple(end)
            assert (res.tags, res.status) == ([end], "I")
            c.simple("BEGIN")
            c.send(pgwire.query_msg(f"COPY {table_name} FROM STDIN"))
            assert _read_until(c, "G") == "G"
            c.send(pgwire.message("d", b"2\tb\n") + sync_msg() + pgwire.flush_msg() + pgwire.message("c"))
            assert _read_until(c, "Z") == "CZ"
            res = c.simple(end)
            assert (res.tags, res.status) == ([end], "I")
        finally:
            c.close()
    cur = setup.cursor()
    cur.execute(f"SELECT id, x FROM {table_name} ORDER BY id")
    assert cur.fetchall() == [(1, "a"), (2, "b")]
    # Nothing was left taken: a client at a time can still run (the pool serves them).
    for _ in range(3):
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


# ---------------------------------------------------------------- SET in transaction pooling

def _with_other_schema(m):
    """Schema `other` with its own kv (k = 1 is 'other'); returns an autocommit cursor."""
    setup = m.connect()
    setup.autocommit = True
    cur = setup.cursor()
    cur.execute("CREATE SCHEMA other")
    cur.execute("CREATE TABLE other.kv (k int PRIMARY KEY, v text)")
    cur.execute("INSERT INTO other.kv VALUES (1, 'other')")
    return cur


def _autocommit_cursor(m):
    c = m.connect()
    c.autocommit = True
    return c.cursor()


def _one(c, sql):
    """The first column of the first row of `sql` run by psycopg2 cursor `c`."""
    c.execute(sql)
    return c.fetchone()[0]


def test_a_clients_settings_follow_it_and_reach_no_other_client(one_connection):
    # Every client's statements run on the one server connection. A setting the server does
    # not report (search_path, statement_timeout, default_transaction_read_only is reported)
    # used to stay on the connection: the next client read another schema's table, or had
    # its statements time out. Now it is read back after the SET and follows its client.
    m = one_connection
    cur = _with_other_schema(m)
    cur.execute("CREATE ROLE weak")
    a, b = m.connect(), m.connect()
    a.autocommit = b.autocommit = True
    ca, cb = a.cursor(), b.cursor()

    def one(c, sql):
        c.execute(sql)
        return c.fetchone()[0]

    ca.execute("SET search_path = other, public")
    ca.execute("SET statement_timeout = '50ms'")
    ca.execute("SET default_transaction_read_only = on")
    assert one(cb, "SELECT v FROM kv WHERE k = 1") == "v1"
    assert one(cb, "SELECT pg_sleep(0.2)::text") == ""
    cb.execute("INSERT INTO kv VALUES (100, 'b')")
    assert one(ca, "SELECT v FROM kv WHERE k = 1") == "other"
    assert one(ca, "SHOW search_path") == "other, public"
    with pytest.raises(psycopg2.errors.QueryCanceled):
        ca.execute("SELECT pg_sleep(0.2)")
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
        ca.execute("INSERT INTO public.kv VALUES (101, 'a')")
    assert one(cb, "SHOW search_path") == '"$user", public'
    ca.execute("RESET ALL")
    assert one(ca, "SELECT v FROM kv WHERE k = 1") == "v1"
    ca.execute("INSERT INTO kv VALUES (101, 'a')")
    ca.execute("SET search_path = other")
    ca.execute("RESET search_path")
    assert one(ca, "SELECT v FROM kv WHERE k = 1") == "v1"
    # A role would stay on the connection for the next client (and one without superuser
    # cannot switch back): refused outside SET LOCAL.
    with pytest.raises(psycopg2.errors.FeatureNotSupported, match="SET LOCAL ROLE"):
        ca.execute("SET ROLE weak")
    with pytest.raises(psycopg2.errors.FeatureNotSupported, match="SESSION AUTHORIZATION"):
        ca.execute("SET SESSION AUTHORIZATION weak")
    ca.execute("RESET ROLE")
    a.autocommit = False
    ca.execute("SET LOCAL ROLE weak")
    assert one(ca, "SELECT current_user") == "weak"
    a.commit()
    assert one(cb, "SELECT current_user") == "mosaic"
    assert one(ca, "SELECT current_user") == "mosaic"
    # The same with set_config(..., false), as row-level security setups set the tenant outside
    # a transaction: on the binary before this test B read A's tenant, and set_config of role
    # ran (A's role stayed on the connection).
    a.commit()
    a.autocommit = True
    # A custom setting (not in pg_settings): on the binary before this test B read A's value.
    ca.execute("SET app.region = 'eu'")
    assert one(cb, "SELECT current_setting('app.region', true)") in (None, "")
    assert one(ca, "SELECT current_setting('app.region', true)") == "eu"
    assert one(ca, "SELECT set_config('App.Tenant', 'acme', false)") == "acme"
    assert one(cb, "SELECT current_setting('app.tenant', true)") in (None, "")
    assert one(ca, "SELECT current_setting('app.tenant', true)") == "acme"
    w = PgConn(m.host, m.port)
    try:
        w.startup()
        r = w.extended("SELECT set_config($1, $2, false)", ("app.user", "u7"))
        assert r.errors == [] and r.rows == [["u7"]], (r.errors, r.rows)
        assert one(cb, "SELECT current_setting('app.user', true)") in (None, "")
        assert w.simple("SELECT current_setting('app.user', true)").rows == [["u7"]]
        r = w.extended("SELECT set_config($1, $2, false)", ("Role", "weak"))
        assert [e["C"] for e in r.errors] == ["0A000"], r.errors
        assert w.simple("SELECT current_user").rows == [["mosaic"]]
    finally:
        w.close()
    with pytest.raises(psycopg2.errors.FeatureNotSupported, match="is_local true"):
        ca.execute("SELECT set_config('role', 'weak', false)")
    assert one(ca, "SELECT current_user") == "mosaic"


def test_settings_set_inside_a_transaction_or_a_string_or_over_extended_reach_no_other_client(one_connection):
    # A SET Mosaic relayed as the client sent it (inside a transaction block, as psycopg2 sends
    # every statement by default; in a query string with other statements; over the extended
    # protocol, as JDBC sends it) stayed on the one server connection: the next client ran
    # with the first one's search_path and statement_timeout (on the binary before this test:
    # 'other, public' and '1234ms'). Now the names such a SET changes are set to what the next
    # client expects (or reset) before its first statement; a SET inside a block that commits
    # follows its client from then on, as PostgreSQL keeps it; a rolled back one does not.
    m = one_connection
    _with_other_schema(m)
    cb = _autocommit_cursor(m)
    one = _one

    def seen_by_b():
        return (one(cb, "SHOW search_path"), one(cb, "SHOW statement_timeout"),
                one(cb, "SHOW default_transaction_isolation"), one(cb, "SELECT v FROM kv WHERE k = 1"))

    clean = ('"$user", public', "0", "read committed", "v1")
    a = m.connect()  # psycopg2's default: each statement inside a BEGIN it sends
    ca = a.cursor()
    ca.execute("SET search_path = other, public")
    ca.execute("SET statement_timeout = '1234ms'")
    ca.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    a.commit()
    assert seen_by_b() == clean
    # The committed settings stay with their client.
    assert one(ca, "SHOW search_path") == "other, public"
    assert one(ca, "SHOW statement_timeout") == "1234ms"
    assert one(ca, "SHOW default_transaction_isolation") == "repeatable read"
    assert one(ca, "SELECT v FROM kv WHERE k = 1") == "other"
    a.commit()
    assert seen_by_b() == clean
    ca.execute("SET search_path = nowhere")
    a.rollback()
    assert one(ca, "SHOW search_path") == "other, public"
    a.rollback()
    assert seen_by_b() == clean
    # ROLLBACK TO SAVEPOINT undoes the SETs after its savepoint only, as in PostgreSQL (before,
    # every SET of such a block was dropped at COMMIT: work_mem came back as 4MB).
    ca.execute("SET work_mem = '3MB'")
    ca.execute("SAVEPOINT s")
    ca.execute("SET search_path = nowhere")
    ca.execute("SET work_mem = '5MB'")
    ca.execute("ROLLBACK TO SAVEPOINT s")
    a.commit()
    assert (one(ca, "SHOW work_mem"), one(ca, "SHOW search_path")) == ("3MB", "other, public")
    a.commit()
    assert seen_by_b() == clean
    assert one(cb, "SHOW work_mem") == "4MB"
    a.close()

    c = m.connect()
    c.autocommit = True
    c.cursor().execute("SET work_mem = '7MB'; SET search_path = other; SELECT 1")
    assert seen_by_b() == clean
    assert one(cb, "SHOW work_mem") == "4MB"
    c.close()

    raw = started(m)
    try:
        raw.send(parse_msg("", "SET search_path = other") + bind_msg("", "") + execute_msg() + sync_msg())
        assert not raw.read_until_ready().errors
        raw.send(parse_msg("", "SET statement_timeout = 4321") + bind_msg("", "") + execute_msg() + sync_msg())
        assert not raw.read_until_ready().errors
        assert seen_by_b() == clean
    finally:
        raw.close()


def test_settings_set_over_extended_or_in_a_query_string_follow_their_client(one_connection):
    # JDBC sends every SET over the extended protocol (Parse, Bind, Execute, Sync). Such a SET,
    # and one in a query string with other statements, lasted only while the client kept the
    # server connection: its next statement ran with the setting reset (on the binary before
    # this test: '"$user", public' and the table of the other schema). Now it is read back
    # after the Sync (after the string) and follows its client, as a SET of its own does; it
    # still reaches no other client. A batch or string that fails is not adopted.
    m = one_connection
    _with_other_schema(m)
    cb = _autocommit_cursor(m)
    one = _one

    def value(conn, sql):
        res = conn.simple(sql)
        assert not res.errors, res.errors
        return res.rows[0][0]

    def extended(conn, *sqls):
        msgs = b"".join(parse_msg("", sql) + bind_msg("", "") + execute_msg() for sql in sqls)
        conn.send(msgs + sync_msg())
        return conn.read_until_ready()

    default_path = '"$user", public'
    raw = started(m)
    try:
        res = extended(raw, "SET search_path = other, public")
        assert not res.errors and res.status == "I", res.errors
        assert one(cb, "SELECT v FROM kv WHERE k = 1") == "v1"  # the other client, in between
        assert one(cb, "SHOW search_path") == default_path
        assert value(raw, "SHOW search_path") == "other, public"
        assert value(raw, "SELECT v FROM kv WHERE k = 1") == "other"
        # Over the extended protocol too, after another client's statements.
        assert one(cb, "SELECT v FROM kv WHERE k = 2") == "v2"
        res = extended(raw, "SELECT v FROM kv WHERE k = 1")
        assert res.rows == [["other"]], res.rows

        # A batch that fails rolls its SET back (one implicit transaction): not adopted.
        res = extended(raw, "SET search_path = public", "SELECT 1/0")
        assert [e["C"] for e in res.errors] == ["22012"]
        assert one(cb, "SHOW search_path") == default_path
        assert value(raw, "SHOW search_path") == "other, public"

        # Two settings and RESET in one batch; then RESET ALL drops them.
        res = extended(raw, "SET statement_timeout = '1234ms'", "SET work_mem = '7MB'", "RESET work_mem")
        assert not res.errors, res.errors
        assert one(cb, "SHOW statement_timeout") == "0"
        assert (value(raw, "SHOW statement_timeout"), value(raw, "SHOW work_mem")) == ("1234ms", "4MB")
        res = extended(raw, "RESET ALL")
        assert not res.errors, res.errors
        assert one(cb, "SHOW statement_timeout") == "0"
        assert (value(raw, "SHOW search_path"), value(raw, "SHOW statement_timeout")) == (default_path, "0")

        # A query string with other statements.
        res = raw.simple("SET search_path = other; SET statement_timeout = '4321ms'; SELECT 1")
        assert not res.errors and res.rows == [["1"]] and res.status == "I", res.errors
        assert (one(cb, "SHOW search_path"), one(cb, "SHOW statement_timeout")) == (default_path, "0")
        assert value(raw, "SELECT v FROM kv WHERE k = 1") == "other"
        assert value(raw, "SHOW statement_timeout") == "4321ms"
        res = raw.simple("SET search_path = public; SELECT 1/0")
        assert [e["C"] for e in res.errors] == ["22012"]
        assert value(raw, "SHOW search_path") == "other"
        # One that opens a transaction block: the SET belongs to the block, which decides.
        res = raw.simple("SET work_mem = '9MB'; BEGIN")
        assert not res.errors and res.status == "T", res.errors
        raw.simple("ROLLBACK")
        assert value(raw, "SHOW work_mem") == "4MB"
        assert one(cb, "SHOW work_mem") == "4MB"
        # SET ROLE would outlive the transaction on a shared server connection: refused over
        # the extended protocol too (it went through before), SET LOCAL ROLE inside a block works.
        res = extended(raw, "SET ROLE mosaic")
        assert [e["C"] for e in res.errors] == ["0A000"] and "SET LOCAL ROLE" in res.errors[0]["M"], res.errors
        raw.simple("BEGIN")
        res = extended(raw, "SET LOCAL ROLE mosaic")
        assert not res.errors and res.status == "T", res.errors
        raw.simple("COMMIT")
    finally:
        raw.close()


# ---------------------------------------------------------------- a Close without its own Sync

def test_settings_set_inside_a_block_hold_on_every_node_of_it(mosaic, table_name):
    # A SET inside a transaction block ran on one node only (the first of the block, else the
    # default one): the block's statements on its other nodes ran without it (on the binary
    # before this test: work_mem 4MB on the nodes of ids 1500 and 2500), and a float sum over
    # the nodes or an INSERT ... SELECT after SET extra_float_digits = 0 in a block was merged
    # or written back from rounded values instead of refused. Now such a SET runs on every node
    # of the block and on each node that joins it later (after the block's savepoints before
    # it, so a ROLLBACK TO undoes it there too), over both protocols.
    c = mosaic.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute(f"CREATE TABLE {table_name} (tenant_id int NOT NULL, id int NOT NULL, f float8, "
                f"PRIMARY KEY (tenant_id, id))")
    mosaic.split_by_id(table_name, "1")
    cur.execute(f"INSERT INTO {table_name} VALUES (1, 500, 0.1), (1, 1500, 0.2), (1, 2500, 0.3)")
    every_node = (f"SELECT id, current_setting('work_mem'), current_setting('search_path') "
                  f"FROM {table_name} WHERE tenant_id = 1 ORDER BY id")

    def on_every_node(cursor, work_mem, search_path='"$user", public'):
        cursor.execute(every_node)
        assert cursor.fetchall() == [(i, work_mem, search_path) for i in (500, 1500, 2500)]
        for i in (500, 1500, 2500):  # each node alone
            cursor.execute(f"SELECT current_setting('work_mem') FROM {table_name} WHERE tenant_id = 1 AND id = {i}")
            assert cursor.fetchone() == (work_mem,), i

    b = _autocommit_cursor(mosaic)
    try:
        # psycopg2 opens a block before the first statement.
        c.autocommit = False
        cur.execute(f"SELECT f FROM {table_name} WHERE tenant_id = 1 AND id = 500")  # node 1 joins
        cur.execute("SET work_mem = '7MB'")
        assert cur.statusmessage == "SET"
        cur.execute("SAVEPOINT s")
        cur.execute("SET work_mem = '9MB'")
        cur.execute("SET search_path = nowhere, public")
        cur.execute("RESET search_path")
        assert cur.statusmessage == "RESET"
        cur.execute("ROLLBACK TO SAVEPOINT s")
        on_every_node(cur, "7MB")  # nodes 2 and 3 join: SET, SAVEPOINT, SET, ..., ROLLBACK TO
        cur.execute("SET search_path = nowhere, public")
        on_every_node(cur, "7MB", "nowhere, public")
        c.rollback()
        on_every_node(cur, "4MB")
        c.rollback()
        cur.execute("SET work_mem = '6MB'")
        c.commit()
        on_every_node(cur, "6MB")
        c.commit()
        on_every_node(b, "4MB")  # nothing reached another client
        # Floats the nodes print rounded are refused, as outside a block.
        cur.execute("SET extra_float_digits = 0")
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match="extra_float_digits"):
            cur.execute(f"SELECT sum(f) FROM {table_name}")
        c.rollback()
        cur.execute("SET extra_float_digits = 0")
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match="extra_float_digits"):
            cur.execute(f"INSERT INTO {table_name} SELECT 2, id, f * 3 FROM {table_name} WHERE tenant_id = 1")
        c.rollback()
        cur.execute("SET extra_float_digits = 0")
        cur.execute("SAVEPOINT s")
        cur.execute("SET extra_float_digits = 3")
        cur.execute(f"SELECT sum(f) FROM {table_name}")
        assert cur.fetchone() == (0.1 + 0.2 + 0.3,)
        cur.execute("ROLLBACK TO SAVEPOINT s")
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match="extra_float_digits"):
            cur.execute(f"SELECT sum(f) FROM {table_name}")
        c.rollback()
        c.autocommit = True
        cur.execute(f"SELECT count(*) FROM {table_name}")
        assert cur.fetchone() == (3,)
    finally:
        c.close()

    # Over the extended protocol (JDBC with autocommit off): the same, with its command tags.
    w = started(mosaic)
    try:
        assert w.simple("BEGIN").status == "T"
        for sql in ("SET work_mem = '5MB'", "RESET work_mem", "SET work_mem = '3MB'"):
            w.send(parse_msg("", sql) + bind_msg("", "") + describe_msg("P", "") + execute_msg() + sync_msg())
            r = w.read_until_ready()
            assert r.errors == [] and r.tags == [sql.split()[0]] and r.status == "T", (sql, r.errors, r.tags)
            assert "n" in r.types(), r.types()  # NoData for the portal's Describe
        w.send(parse_msg("", every_node) + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert r.errors == [] and r.rows == [[str(i), "3MB", '"$user", public'] for i in (500, 1500, 2500)], r.rows
        assert w.simple("COMMIT").status == "I"
        r = w.simple(every_node)
        assert r.rows == [[str(i), "3MB", '"$user", public'] for i in (500, 1500, 2500)], r.rows
        # A value every node refuses: one error, where PostgreSQL puts it (not one per node).
        assert w.simple("BEGIN").status == "T"
        assert len(w.simple(every_node).rows) == 3
        assert w.simple("SAVEPOINT s").status == "T"
        for send in (lambda sql: w.send(parse_msg("", sql) + bind_msg("", "") + describe_msg("P", "") + execute_msg()
                                        + sync_msg()),
                     lambda sql: w.send(query_msg(sql))):
            send("SET work_mem = 'bogus'")
            r = w.read_until_ready()
            assert [e["C"] for e in r.errors] == ["22023"] and r.status == "E", r.errors
            assert r.types().rstrip("Z").endswith("E") and r.types().count("E") == 1, r.types()
            assert w.simple("ROLLBACK TO SAVEPOINT s").status == "T"
        # So for a savepoint every node refuses.
        w.send(parse_msg("", "ROLLBACK TO SAVEPOINT nowhere") + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert [e["C"] for e in r.errors] == ["3B001"] and r.types() == "12EZ", (r.errors, r.types())
        assert w.simple("ROLLBACK").status == "I"
    finally:
        w.close()
    on_every_node(b, "4MB")
    b.execute(f"DROP TABLE {table_name}")
    b.connection.close()


def test_a_close_without_sync_then_a_query_mosaic_answers_itself_gets_every_reply(mosaic):
    # pg-cursor and pg-query-stream, after an error: Sync, then Close(portal) with no Sync of
    # its own, then a simple Query. The node holds the CloseComplete until a Sync or Flush; when
    # Mosaic answered the Query itself (25P02 in an aborted transaction, a refusal) that answer
    # waited behind it and the client hung. PostgreSQL: CloseComplete, the Query's replies.
    c = started(mosaic)
    try:
        c.simple("BEGIN")
        c.send(parse_msg("", "SELECT 1/0") + bind_msg("C_1", "") + describe_msg("P", "C_1") + execute_msg("C_1")
               + pgwire.sync_msg())
        res = c.read_until_ready()
        assert _sqlstates(res) == ["22012"], res.types()
        c.send(close_msg("P", "C_1"))
        c.send(pgwire.query_msg("SELECT 1"))
        got = [t for t, _ in c.pending_messages(3.0) if t != "S"]
        assert got == ["3", "E", "Z"], got  # CloseComplete, 25P02, ReadyForQuery
        c.simple("ROLLBACK")
        # Outside a transaction, before a query Mosaic refuses itself.
        c.send(parse_msg("", "SELECT 1") + bind_msg("C_2", "") + execute_msg("C_2") + pgwire.sync_msg())
        c.read_until_ready()
        c.send(close_msg("P", "C_2"))
        c.send(pgwire.query_msg("SET SESSION AUTHORIZATION mosaic"))
        got = [t for t, _ in c.pending_messages(3.0) if t != "S"]
        assert got == ["3", "E", "Z"], got
        assert c.simple("SELECT 2").rows == [["2"]]
    finally:
        c.close()


# ---------------------------------------------------------------- binary results of merged queries

def _columns(payload):
    """(name, type oid, typlen, typmod, format) of each RowDescription column (table OIDs and
    column numbers differ between the nodes' tables and a plain PostgreSQL's)."""
    (n,) = struct.unpack_from("!h", payload, 0)
    pos, out = 2, []
    for _ in range(n):
        end = payload.index(b"\x00", pos)
        name = payload[pos:end].decode()
        _, _, oid, typlen, typmod, fmt = struct.unpack_from("!ihIhih", payload, end + 1)
        out.append((name, oid, typlen, typmod, fmt))
        pos = end + 1 + 18
    return out


def _extended(c, sql, result_formats):
    """Parse/Bind (text parameters, these result formats)/Describe/Execute/Sync: (columns, raw
    rows, tag, errors)."""
    c.send(parse_msg("", sql) + bind_msg("", "", (), result_formats) + describe_msg("P", "")
           + execute_msg() + sync_msg())
    r = c.read_until_ready()
    desc = [p for t, p in r.messages if t == "T"]
    rows = [pgwire.parse_data_row(p, raw=True) for t, p in r.messages if t == "D"]
    return (_columns(desc[0]) if desc else None), rows, r.tags, [(e["C"], e["M"]) for e in r.errors]


@pytest.fixture
def binary_merge_tables(mosaic, table_name):
    """A distributed table over the nodes and the same rows in one table of a plain PostgreSQL
    (a database of its own on node 1): yields (Mosaic connection, PostgreSQL connection)."""
    rows = []
    for t in range(1, 9):
        for i in range(1, 6):
            sign = "-" if (t + i) % 4 == 0 else ""
            rows.append(f"({t}, {i}, {sign}{t * 7 + i}.{i * 125:03d}, {t * i / 4}, {t * 1000000000 + i}, "
                        f"'2024-01-{i:02d} {t:02d}:00:00.5+00', '{['red', 'green', 'blue'][(t + i) % 3]}')")
    ddl = (f"CREATE TABLE {table_name} (tenant_id int NOT NULL, id int NOT NULL, amount numeric(10,3), "
           "v float8, big bigint, at timestamptz, label text)")
    insert = f"INSERT INTO {table_name} VALUES " + ", ".join(rows)
    node = sorted(mosaic.nodes(), key=lambda n: n["id"])[0]
    ref_db = f"ref_{table_name}"[:60]
    admin = mosaic.connect_node(node)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {ref_db}")
    m = started(mosaic)
    pg = PgConn(node["host"], node["port"])
    try:
        assert pg.startup(user=node["user"], database=ref_db).status == "I"
        for conn in (m, pg):
            assert conn.simple(ddl).errors == [] and conn.simple(insert).errors == []
        # the rows are spread: the merge is real
        holding = [n["id"] for n in mosaic.nodes() if _node_count(mosaic, n, table_name) > 0]
        assert len(holding) >= 2, f"rows on nodes {holding} only"
        yield m, pg
    finally:
        m.close()
        pg.close()
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {ref_db}")
        admin.close()


def _node_count(mosaic, node, table):
    c = mosaic.connect_node(node)
    try:
        with c.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            return cur.fetchone()[0]
    finally:
        c.close()


def test_binary_results_of_merged_queries_are_postgresqls_bytes(binary_merge_tables, table_name):
    # Bind asking binary results (one code for all, or one per column, mixed) for aggregates,
    # GROUP BY, HAVING, ORDER BY, DISTINCT and LIMIT merged over the nodes: the same
    # RowDescription formats and the same bytes as a plain PostgreSQL holding every row.
    m, pg = binary_merge_tables
    t = table_name
    aggregate = (f"SELECT label, count(*), sum(amount), avg(amount), avg(id), min(at), max(v), sum(big), "
                 f"max(amount), count(DISTINCT tenant_id), count(*)::int4 AS n4, avg(v) "
                 f"FROM {t} GROUP BY label HAVING count(*) > 2 ORDER BY label DESC")
    cases = [
        (aggregate, [1]),
        (aggregate, [0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1]),
        # one text code per column: the nodes, which return hidden columns too (avg's count,
        # HAVING's count), get a code per node column of theirs (before: 08P01 "bind message
        # has 12 result formats but query has 16 columns" from the nodes)
        (aggregate, [0] * 12),
        (f"SELECT count(*), sum(amount), avg(big), min(label), max(at) FROM {t}", [1]),
        (f"SELECT sum(amount), avg(amount) FROM {t} WHERE id > 100", [1]),  # over no rows: NULLs
        (f"SELECT tenant_id, id, amount, at, v, label FROM {t} ORDER BY amount DESC, id LIMIT 12 OFFSET 2", [1]),
        (f"SELECT tenant_id, id, amount, big FROM {t} ORDER BY at, id", [0, 1, 0, 1]),
        (f"SELECT DISTINCT label, v FROM {t} ORDER BY v DESC, label", [1]),
    ]
    for sql, formats in cases:
        got = _extended(m, sql, formats)
        want = _extended(pg, sql, formats)
        assert want[3] == [], (sql, want[3])
        assert got[3] == [], f"{sql} (result formats {formats}): {got[3]}"
        assert got[0] == want[0], f"{sql} (result formats {formats}): RowDescription\n{got[0]}\nPostgreSQL\n{want[0]}"
        assert [f for *_, f in got[0]] == (formats * len(got[0]) if len(formats) == 1 else formats), got[0]
        assert got[1] == want[1], (f"{sql} (result formats {formats}): rows through Mosaic\n{got[1]}\n"
                                   f"PostgreSQL\n{want[1]}")
        assert got[2] == want[2], (sql, got[2], want[2])


def test_binary_results_of_a_type_mosaic_cannot_read_are_refused_naming_it(binary_merge_tables, table_name):
    m, pg = binary_merge_tables
    # ordering by an interval sent in binary: 0A000 naming the type; in text, the interval passes
    # through when the merge does not read it
    cols, rows, tags, errors = _extended(
        m, f"SELECT id, make_interval(days => id) AS iv FROM {table_name} ORDER BY iv", [1])
    assert [e[0] for e in errors] == ["0A000"] and "interval" in errors[0][1], errors
    sql = f"SELECT tenant_id, id, make_interval(days => id) AS iv FROM {table_name} ORDER BY tenant_id, id"
    got, want = _extended(m, sql, [1]), _extended(pg, sql, [1])
    assert got[3] == [] and got[1] == want[1], (got[3], got[1][:3], want[1][:3])
    assert m.simple("SELECT 1").rows == [["1"]]
