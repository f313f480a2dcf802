"""Distributed transactions (issue 7): pgbench's TPC-B-like script over 3 nodes, with Mosaic
killed (SIGKILL, by its test-only fault injection) at each step of two-phase commit.

Layout (single-tenant tables, each split on its key over nodes 1, 2, 3):
  pgbench_accounts on aid, pgbench_tellers on tid, pgbench_branches on bid;
  pgbench_history is not split (one node).
So nearly every TPC-B transaction writes on several nodes and commits with two-phase commit.

pgbench runs with -n: without it, each run would truncate pgbench_history.
After each crash and restart, the invariants of the TPC-B script must hold:
  no prepared transaction left on any node;
  sum(abalance) = sum(tbalance) = sum(bbalance) = sum(delta) of pgbench_history;
  history rows = transactions committed: at least what pgbench saw committed, and at most that
  plus the transactions in flight when Mosaic died (one per client).

MOSAIC_2PC_ROUNDS (default 2) sets the crashes per injection point; the acceptance run uses 20.
"""

import os
import random
import re
import signal
import subprocess
import time

import pytest

import pgwire
from harness import Mosaic, cut_connection, serving

SCALE = 3
CLIENTS = 8
ROUNDS = int(os.environ.get("MOSAIC_2PC_ROUNDS", "2"))
POINTS = ["prepare-some", "prepare-all", "decision", "commit-some"]
LAYOUTS = [
    {"tables": ["pgbench_accounts"], "tenant": None, "column": "aid",
     "ranges": [{"upper": "100001", "node": 1}, {"upper": "200001", "node": 2}, {"node": 3}]},
    {"tables": ["pgbench_tellers"], "tenant": None, "column": "tid",
     "ranges": [{"upper": "11", "node": 1}, {"upper": "21", "node": 2}, {"node": 3}]},
    {"tables": ["pgbench_branches"], "tenant": None, "column": "bid",
     "ranges": [{"upper": "2", "node": 1}, {"upper": "3", "node": 2}, {"node": 3}]},
]
SUMS = ("SELECT (SELECT sum(abalance) FROM pgbench_accounts), "
        "(SELECT sum(tbalance) FROM pgbench_tellers), "
        "(SELECT sum(bbalance) FROM pgbench_branches), "
        "(SELECT coalesce(sum(delta), 0) FROM pgbench_history), "
        "(SELECT count(*) FROM pgbench_history)")


def pgbench(m, *args, timeout=300):
    cmd = ["pgbench", "-h", m.host, "-p", str(m.port), "-U", "mosaic", *args, "mosaic"]
    return subprocess.run(cmd, env=m.client_env(), capture_output=True, text=True,
                          timeout=timeout)


def processed(r):
    """Transactions pgbench saw committed (its summary is printed even when clients abort)."""
    found = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    return int(found.group(1)) if found else 0


def node_state(m):
    """Per node: the prepared transactions left, and the table sums taken directly (no Mosaic)."""
    prepared, sums = [], [0, 0, 0, 0, 0]
    for n in m.nodes():
        c = m.connect_node(n)
        c.autocommit = True
        cur = c.cursor()
        cur.execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")
        prepared += [(n["id"], g) for (g,) in cur.fetchall()]
        cur.execute(SUMS)
        sums = [a + (b or 0) for a, b in zip(sums, cur.fetchone())]
        c.close()
    return prepared, sums


def check_invariants(m, committed_at_least, in_flight_at_most, what):
    prepared, (a, t, b, delta, history) = node_state(m)
    assert prepared == [], f"{what}: prepared transactions left on nodes: {prepared}"
    assert a == t == b == delta, \
        f"{what}: sum(abalance)={a} sum(tbalance)={t} sum(bbalance)={b} sum(delta)={delta}"
    assert committed_at_least <= history <= committed_at_least + in_flight_at_most, \
        f"{what}: {history} history rows, pgbench committed {committed_at_least}"
    # and Mosaic agrees with the nodes
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute("SELECT sum(abalance) FROM pgbench_accounts")
    assert cur.fetchone()[0] == a
    cur.execute("SELECT count(*), coalesce(sum(delta), 0) FROM pgbench_history")
    assert cur.fetchone() == (history, delta)
    c.close()
    return history


@pytest.fixture(scope="module")
def tpcb():
    with serving(Mosaic(nodes=3, name="twophase",
                        extra_args=["--router-id", "e2e-1"])) as m:
        r = pgbench(m, "-i", "-I", "dt")
        assert r.returncode == 0, r.stderr
        for layout in LAYOUTS:
            status, body = m.admin_post("/api/v1/layout", layout)
            assert status == 200, body
        r = pgbench(m, "-i", "-I", "gvp", "-s", str(SCALE))
        assert r.returncode == 0, r.stderr
        m.history = 0  # history rows so far (all committed)
        yield m


def metric(m, name, labels=""):
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", m.metrics(), re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("protocol", ["simple", "extended", "prepared"])
def test_tpcb_over_three_nodes_has_no_failures(tpcb, protocol):
    """Over the extended protocol (-M extended, -M prepared) BEGIN and END come as Parse, Bind,
    Execute, as JDBC sends them: they end the transaction on every node as over the simple one."""
    m = tpcb
    before = metric(m, "mosaic_two_phase_commits_total")
    r = pgbench(m, "-n", "-M", protocol, "-c", str(CLIENTS), "-T", "10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "number of failed transactions: 0 (0.000%)" in r.stdout, r.stdout
    n = processed(r)
    assert n > 0
    # most TPC-B transactions here write on several nodes
    assert metric(m, "mosaic_two_phase_commits_total") - before > n / 2
    m.history = check_invariants(m, m.history + n, 0, "clean run")
    assert m.history == check_invariants(m, m.history, 0, "clean run, again")


@pytest.mark.timeout(60 + 45 * ROUNDS)
@pytest.mark.parametrize("point", POINTS)
def test_crash_during_two_phase_commit_keeps_invariants(tpcb, point):
    m = tpcb
    rng = random.Random(f"{point}-{ROUNDS}")
    for round_no in range(ROUNDS):
        what = f"{point} round {round_no + 1}"
        m.stop()
        at = rng.randint(5, 150)
        m.extra_args = ["--router-id", "e2e-1", "--test-fault", f"{point}:{at}"]
        m.start()
        r = pgbench(m, "-n", "-c", str(CLIENTS), "-T", "30", timeout=120)
        m.proc.wait(10)
        assert m.proc.returncode == -signal.SIGKILL, \
            f"{what}: mosaic was not killed by the fault (exit {m.proc.returncode}):\n" \
            + r.stdout + r.stderr + m.log_tail()
        assert f"test fault {point}" in m.log_tail(200), what
        n = processed(r)
        # restart without the fault: the start-up recovery pass resolves what was left prepared
        m.extra_args = ["--router-id", "e2e-1"]
        m.start()
        history = check_invariants(m, m.history + n, CLIENTS, what)
        # the start-up pass resolved what the crash left prepared, as the catalog recorded:
        # committed once the decision was recorded, rolled back before
        outcome = "commit" if point in ("decision", "commit-some") else "rollback"
        recovered = metric(m, "mosaic_two_phase_recovered_total", f'{{outcome="{outcome}"}}')
        assert recovered >= 1, f"{what}: nothing recovered with outcome {outcome}:\n" + m.log_tail()
        m.history = history
    # the router still commits multi-node transactions after all that
    r = pgbench(m, "-n", "-c", "4", "-t", "20")
    assert "number of failed transactions: 0 (0.000%)" in r.stdout, r.stdout + r.stderr
    m.history = check_invariants(m, m.history + 80, 0, f"{point}: after the crashes")


def node_conns(m):
    out = {}
    for n in m.nodes():
        c = m.connect_node(n)
        c.autocommit = True
        out[n["id"]] = c
    return out


def test_a_transaction_reads_its_own_writes_on_every_node(tpcb):
    m = tpcb
    aids = (1, 150001, 250001)  # nodes 1, 2, 3
    c = m.connect()
    cur = c.cursor()
    cur.execute("SELECT aid, abalance FROM pgbench_accounts WHERE aid IN %s ORDER BY aid", (aids,))
    before = dict(cur.fetchall())
    c.commit()
    cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid IN %s", (aids,))
    assert cur.rowcount == 3
    cur.execute("SELECT aid, abalance FROM pgbench_accounts WHERE aid IN %s ORDER BY aid", (aids,))
    assert dict(cur.fetchall()) == {a: b + 7 for a, b in before.items()}
    # not visible outside the transaction, on any node, before COMMIT
    for node, nc in node_conns(m).items():
        ncur = nc.cursor()
        ncur.execute("SELECT aid, abalance FROM pgbench_accounts WHERE aid IN %s", (aids,))
        for aid, bal in ncur.fetchall():
            assert bal == before[aid], f"node {node} shows an uncommitted write"
    c.rollback()
    cur.execute("SELECT aid, abalance FROM pgbench_accounts WHERE aid IN %s ORDER BY aid", (aids,))
    assert dict(cur.fetchall()) == before
    c.commit()
    c.close()


def test_reference_table_writes_reach_every_node_or_none(tpcb):
    m = tpcb
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute("CREATE TABLE ref_codes (code int PRIMARY KEY, label text)")
    cur.execute("SELECT mosaic.create_reference_table('ref_codes')")
    before = metric(m, "mosaic_two_phase_commits_total")
    cur.execute("INSERT INTO ref_codes VALUES (1, 'one')")
    assert metric(m, "mosaic_two_phase_commits_total") == before + 1
    nodes = node_conns(m)
    for node, nc in nodes.items():
        ncur = nc.cursor()
        ncur.execute("SELECT code, label FROM ref_codes")
        assert ncur.fetchall() == [(1, "one")], f"node {node}"
    # a row that only node 3 has makes the insert fail there: no node may keep it
    nodes[3].cursor().execute("INSERT INTO ref_codes VALUES (2, 'only on node 3')")
    with pytest.raises(Exception) as failed:
        cur.execute("INSERT INTO ref_codes VALUES (2, 'two')")
    assert getattr(failed.value, "pgcode", None) == "23505", failed.value
    for node, nc in nodes.items():
        ncur = nc.cursor()
        ncur.execute("SELECT label FROM ref_codes WHERE code = 2")
        assert ncur.fetchall() == ([("only on node 3",)] if node == 3 else []), f"node {node}"
        ncur.execute("SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()")
        assert ncur.fetchone() == (0,), f"node {node}"
    nodes[3].cursor().execute("DELETE FROM ref_codes WHERE code = 2")
    cur.execute("DROP TABLE ref_codes")
    c.close()


def test_savepoints_over_the_extended_protocol_span_nodes(tpcb):
    """As JDBC sends them (Parse, Bind, Execute, Sync): SAVEPOINT, RELEASE and ROLLBACK TO in a
    transaction on three nodes run on every node of it; a node that joins after a savepoint
    gets it first, so rolling back to it undoes that node's writes too."""
    m = tpcb
    admin = m.connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS sp")
        cur.execute("CREATE TABLE sp (k int PRIMARY KEY, v int NOT NULL)")
    status, body = m.admin_post("/api/v1/layout", {
        "tables": ["sp"], "tenant": None, "column": "k",
        "ranges": [{"upper": "100", "node": 1}, {"upper": "200", "node": 2}, {"node": 3}]})
    assert status == 200, body
    with admin.cursor() as cur:
        cur.execute("INSERT INTO sp VALUES (1, 0), (101, 0), (201, 0)")
    c = pgwire.PgConn(m.host, m.port)
    c.startup()

    def x(sql):
        c.send(pgwire.parse_msg("", sql) + pgwire.bind_msg("", "") + pgwire.execute_msg() + pgwire.sync_msg())
        r = c.read_until_ready()
        return r.tags, [e["C"] for e in r.errors], r.status

    steps = [("BEGIN", "BEGIN"), ("UPDATE sp SET v = v + 1 WHERE k = 1", "UPDATE 1"),
             ("SAVEPOINT a", "SAVEPOINT"), ("UPDATE sp SET v = v + 10 WHERE k = 101", "UPDATE 1"),
             ("SAVEPOINT b", "SAVEPOINT"), ("UPDATE sp SET v = v + 100 WHERE k = 201", "UPDATE 1"),
             ("ROLLBACK TO SAVEPOINT b", "ROLLBACK"), ("RELEASE SAVEPOINT a", "RELEASE"),
             ("UPDATE sp SET v = v + 1000 WHERE k IN (1, 201)", "UPDATE 2"), ("SAVEPOINT c", "SAVEPOINT"),
             ("UPDATE sp SET v = v + 5 WHERE k IN (1, 101, 201)", "UPDATE 3"), ("ROLLBACK TO c", "ROLLBACK")]
    for sql, tag in steps:
        assert x(sql) == ([tag], [], "T"), sql
    assert x("COMMIT") == (["COMMIT"], [], "I")
    c.close()
    with admin.cursor() as cur:
        cur.execute("SELECT k, v FROM sp ORDER BY k")
        assert cur.fetchall() == [(1, 1001), (101, 10), (201, 1000)]
    for node, nc in node_conns(m).items():
        with nc.cursor() as ncur:
            ncur.execute("SELECT count(*) FROM pg_prepared_xacts")
            assert ncur.fetchone()[0] == 0, node
        nc.close()
    with admin.cursor() as cur:
        cur.execute("DROP TABLE sp")
    admin.close()


def process_gone(pid):
    """The process has exited (a zombie has closed its sockets too)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_a_server_lost_under_a_multi_node_transaction_ends_the_client_and_its_other_nodes(tpcb):
    # A node's backend dies while it runs a statement of a transaction that also wrote on
    # another node: Mosaic sent FATAL but kept waiting for the client's next message, so libpq
    # waited for the end of the connection forever and node 2 kept the transaction (and its row
    # locks) open, blocking every later writer of those rows.
    # Later, under load: the backend's FATAL and its close reached Mosaic in one wake-up; the
    # read of the FATAL marked the socket drained, so the end of file (no later edge) was never
    # read and the session waited for node 1 forever. Mosaic is paused while the backend dies
    # so that both come in one wake-up every time.
    import threading
    m = tpcb
    c = m.connect()
    cur = c.cursor()
    cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1")  # node 1
    cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 150002")  # node 2
    outcome = {}

    def run():
        try:
            cur.execute("SELECT pg_sleep(5), abalance FROM pgbench_accounts WHERE aid = 1")
            outcome["rows"] = cur.fetchall()
        except Exception as e:  # noqa: BLE001
            outcome["error"] = e

    conns = node_conns(m)
    th = threading.Thread(target=run, daemon=True)
    th.start()
    try:
        ncur = conns[1].cursor()
        backend = None
        deadline = time.monotonic() + 4
        while backend is None and time.monotonic() < deadline:
            time.sleep(0.05)
            ncur.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(5)%' "
                         "AND state = 'active' AND pid <> pg_backend_pid()")
            found = ncur.fetchall()
            backend = found[0][0] if found else None
        assert backend is not None, "the SELECT never ran on node 1"
        m.proc.send_signal(signal.SIGSTOP)
        try:
            ncur.execute("SELECT pg_terminate_backend(%s)", (backend,))
            assert ncur.fetchone()[0], "the SELECT's backend was not terminated"
            while not process_gone(backend):  # its FATAL and its close both wait for Mosaic
                time.sleep(0.01)
        finally:
            m.proc.send_signal(signal.SIGCONT)
        t0 = time.monotonic()
        th.join(10)
        waited = time.monotonic() - t0
        assert not th.is_alive(), "the client still waits 10 s after its node's backend died"
        assert "error" in outcome, outcome
        assert c.closed, f"the client's connection is still open after {outcome['error']}"
        assert waited < 5, waited
        # Node 2's part of the transaction is gone: nothing idle in a transaction, row unchanged.
        deadline = time.monotonic() + 5
        while True:
            ncur = conns[2].cursor()
            ncur.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'")
            if ncur.fetchone()[0] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        ncur.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'")
        assert ncur.fetchone()[0] == 0, "node 2 keeps the dead client's transaction open"
        other = m.connect()
        other.autocommit = True
        ocur = other.cursor()
        ocur.execute("SET statement_timeout = '3s'")
        ocur.execute("UPDATE pgbench_accounts SET abalance = abalance WHERE aid = 150002")  # not blocked
        assert ocur.rowcount == 1
        other.close()
    finally:
        if th.is_alive():
            cut_connection(c)  # wakes the libpq call (closing its descriptor does not)
        for nc in conns.values():
            nc.close()
