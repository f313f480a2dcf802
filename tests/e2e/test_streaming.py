"""A SELECT over several nodes that needs no aggregation, DISTINCT or re-sort streams: its rows go
to the client as the nodes send them (ORDER BY: k-way merged as soon as every node still running
has a row), so max_merge_mb no longer limits it and the first rows come before the last node is
done. What must still be held (GROUP BY, DISTINCT) is refused past max_merge_mb with 54000.

On the binary before streaming every such SELECT was buffered until all nodes had answered: the
3 MB results below failed with 54000 under max_merge_mb = 1, and no row came while one node was
held by a lock.

Run: cd tests/e2e && MOSAIC_BIN=<binary> /usr/bin/python3 -m pytest -q test_streaming.py
"""

import time

import psycopg2
import pytest

import pgwire
import sqllogic

CONFIG = "max_merge_mb = 1\n"
ROWS = 2000  # of 1.5 kB: 3 MB over the nodes

DDL = "CREATE TABLE big (k int8 PRIMARY KEY, pad text NOT NULL, n int4)"
FILL = ("INSERT INTO big SELECT g, repeat(chr(65 + g %% 26), 1500), CASE WHEN g %% 7 = 0 THEN NULL ELSE g %% 100 END "
        "FROM generate_series(%s, %s) g")


def _split(m, nodes):
    """Splits big on k into `nodes` equal ranges, node 1 holding the first."""
    ranges = [{"upper": str(ROWS * (i + 1) // nodes), "node": i + 1} for i in range(nodes - 1)] + [{"node": nodes}]
    status, body = m.admin_post("/api/v1/layout", {"tables": ["big"], "tenant": None, "column": "k",
                                                   "ranges": ranges})
    assert status == 200, body


def _fill(cur):
    for first in range(0, ROWS, 400):  # an INSERT ... SELECT over the split holds its rows
        cur.execute(FILL, (first, first + 399))


def _started(mosaic_factory, nodes, config_text=None):
    """A Mosaic over `nodes` nodes with big split across them and filled; (mosaic, connection)."""
    m = mosaic_factory(nodes=nodes, config_text=config_text)
    c = m.connect()
    c.autocommit = True
    c.cursor().execute(DDL)
    _split(m, nodes)
    _fill(c.cursor())
    return m, c


def _node(m, node_id):
    return m.connect_node(next(n for n in m.nodes() if int(n["id"]) == node_id))


@pytest.fixture(scope="module")
def reference():
    pg = sqllogic.PlainPostgres().start()
    c = pg.connect()
    c.autocommit = True
    c.cursor().execute(DDL)
    _fill(c.cursor())
    c.close()
    yield pg  # connections are per test (the harness closes them after each)
    pg.stop()


QUERIES = [  # (query, whether its order is defined)
    ("SELECT * FROM big", False),
    ("SELECT k, pad FROM big ORDER BY k", True),
    ("SELECT pad, n FROM big ORDER BY n DESC NULLS LAST, k", True),  # hidden sort key k, NULLs
    ("SELECT * FROM big ORDER BY pad, k DESC OFFSET 10 LIMIT 1500", True),
    ("SELECT k, pad FROM big WHERE k % 3 <> 0 ORDER BY k LIMIT 5 OFFSET 1990", True),
]


@pytest.mark.timeout(300)
def test_streamed_results_are_not_limited_by_max_merge_mb(mosaic_factory, reference):
    m, c = _started(mosaic_factory, 3, CONFIG)
    cur = c.cursor()
    ref = reference.connect().cursor()
    for query, ordered in QUERIES:
        cur.execute(query)
        got = cur.fetchall()
        ref.execute(query)
        want = ref.fetchall()
        if not ordered:
            got.sort(key=repr)
            want.sort(key=repr)
        assert len(got) == len(want), query
        assert got == want, query
        assert cur.statusmessage == ref.statusmessage, query
    cur.execute("SELECT * FROM big LIMIT 1500 OFFSET 400")
    assert len(cur.fetchall()) == 1500 and cur.statusmessage == "SELECT 1500"

    # What must be held to be combined still is, and is refused past max_merge_mb.
    for query in ("SELECT k, pad, count(*) FROM big GROUP BY k, pad",
                  "SELECT DISTINCT pad || k FROM big"):
        with pytest.raises(psycopg2.Error) as err:
            cur.execute(query)
        assert err.value.pgcode == "54000", (query, err.value)
    cur.execute("SELECT count(*), sum(length(pad)) FROM big")
    assert cur.fetchone() == (ROWS, ROWS * 1500)
    c.close()


def _binary_rows(conn, sql, describe):
    """The replies to `sql` (extended protocol, every result column binary, with or without a
    Describe of the portal) but ParameterStatus, as (type, bytes)."""
    conn.send(pgwire.parse_msg("", sql) + pgwire.bind_msg("", "", result_formats=(1,)) +
              (pgwire.describe_msg("P", "") if describe else b"") + pgwire.execute_msg("", 0) + pgwire.sync_msg())
    res = conn.read_until_ready()
    assert not res.errors, res.errors
    return [(t, p) for t, p in res.messages if t != "S"]


@pytest.mark.timeout(300)
def test_streamed_binary_and_hidden_columns_match_plain_postgres(mosaic_factory, reference):
    m, c = _started(mosaic_factory, 2, CONFIG)
    ref_params = reference.connect().get_dsn_parameters()
    for sql in ("SELECT pad, n, k FROM big ORDER BY n NULLS FIRST, k DESC",
                "SELECT n, pad FROM big ORDER BY k"):
        got_conn = pgwire.PgConn(m.host, m.port)
        got_conn.startup()
        want_conn = pgwire.PgConn(ref_params["host"], int(ref_params["port"]))
        want_conn.startup(user=ref_params["user"], database=ref_params["dbname"])
        for describe in (False, True):
            got = _binary_rows(got_conn, sql, describe)
            want = _binary_rows(want_conn, sql, describe)
            assert [t for t, _ in got].count("D") == ROWS, sql
            # The RowDescription names the table by its OID on each server: compare the rest.
            assert [m for m in got if m[0] != "T"] == [m for m in want if m[0] != "T"], (sql, describe)
            assert [t for t, _ in got] == [t for t, _ in want], (sql, describe)
        got_conn.close()
        want_conn.close()
    c.close()


def _read_for(conn, seconds):
    """The types of the messages that arrive within `seconds` (ParameterStatus left out)."""
    return [t for t, _ in conn.pending_messages(wait=seconds) if t != "S"]


@pytest.mark.timeout(300)
def test_first_rows_arrive_while_a_node_is_still_held(mosaic_factory):
    m, c = _started(mosaic_factory, 2)
    node2 = _node(m, 2)
    lock = node2.cursor()

    # Simple protocol: node 1's 1000 rows come while node 2 waits for the lock.
    lock.execute("BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE")
    w = pgwire.PgConn(m.host, m.port)
    w.startup()
    w.send(pgwire.query_msg("SELECT k FROM big"))
    types = _read_for(w, 3.0)
    print("simple protocol: rows before node 2 answered:", types.count("D"))
    assert types[:1] == ["T"] and types.count("D") == 1000 and "C" not in types, types[:5]
    node2.rollback()
    res = w.read_until_ready()
    assert len(res.rows) == 1000 and res.tags == ["SELECT 2000"] and res.status == "I"

    # Extended protocol, unlimited Execute without Describe: the same.
    lock.execute("BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE")
    w.send(pgwire.parse_msg("", "SELECT k FROM big WHERE k >= $1") + pgwire.bind_msg("", "", params=("0",)) +
           pgwire.execute_msg("", 0) + pgwire.sync_msg())
    types = _read_for(w, 3.0)
    print("extended protocol: rows before node 2 answered:", types.count("D"))
    assert types[:2] == ["1", "2"] and types.count("D") == 1000 and "C" not in types, types[:5]
    node2.rollback()
    res = w.read_until_ready()
    assert len(res.rows) == 1000 and res.tags == ["SELECT 2000"] and res.status == "I"

    # The same with a Describe of the portal before the Execute (as JDBC sends them).
    lock.execute("BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE")
    w.send(pgwire.parse_msg("", "SELECT k FROM big WHERE k >= $1") + pgwire.bind_msg("", "", params=("0",)) +
           pgwire.describe_msg("P", "") + pgwire.execute_msg("", 0) + pgwire.sync_msg())
    types = _read_for(w, 3.0)
    print("extended protocol with Describe: rows before node 2 answered:", types.count("D"))
    assert types[:3] == ["1", "2", "T"] and types.count("D") == 1000 and "C" not in types, types[:5]
    node2.rollback()
    res = w.read_until_ready()
    assert len(res.rows) == 1000 and res.tags == ["SELECT 2000"] and res.status == "I"

    # A node failing after rows went out: the rows, then its error, as PostgreSQL sends one that
    # fails mid-scan; in a transaction block the block is aborted.
    lock.execute("BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE")
    w.simple("BEGIN")
    w.send(pgwire.query_msg("SELECT k, 10 / (k - 1500) FROM big"))
    types = _read_for(w, 3.0)
    print("error after rows: rows before node 2 answered:", types.count("D"))
    assert types[:1] == ["T"] and types.count("D") == 1000, types[:5]
    node2.rollback()
    res = w.read_until_ready()
    assert [f.get("C") for f in res.errors] == ["22012"] and not res.tags and res.status == "E", res.messages[-3:]
    assert w.simple("SELECT 1").errors[0]["C"] == "25P02"
    assert w.simple("ROLLBACK").status == "I"
    assert w.simple("SELECT count(*) FROM big").rows == [["2000"]]

    # A client that hangs up in mid-stream: what still runs on the nodes ends, the router goes on.
    lock.execute("BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE")
    w.send(pgwire.query_msg("SELECT k, pad FROM big"))
    assert _read_for(w, 2.0).count("D") > 0
    w.close()
    node2.rollback()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lock.execute("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT k, pad FROM big' AND state <> 'idle'")
        if lock.fetchone()[0] == 0:
            break
        node2.rollback()
        time.sleep(0.2)
    else:
        pytest.fail("the statement of a client that hung up still runs on node 2")
    cur = c.cursor()
    cur.execute("SELECT count(*) FROM big")
    assert cur.fetchone() == (ROWS,)
    node2.close()
    c.close()
