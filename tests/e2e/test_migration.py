"""Online migration (issue 8): split, move and merge ranges while pgbench keeps writing; a
statement spanning both ends refused during a migration; rollback during the copy and after the
cutover. The scenario and the invariants checked after each migration: migration_common.py.
Crashes mid-way: test_migration_crash.py.
"""

import threading
import time

import psycopg2
import psycopg2.errors
import pytest

import pgwire

# `bench` is the module-scoped fixture: this module gets its own instance.
from migration_common import (CONFIG, MERGE, SCALE, SINGLE, SPLIT, SPLIT_RANGES, TABLES, TERMINAL, Traffic,  # noqa: F401
                              bench, check_invariants, ensure, failed_transactions, layout_ranges,
                              migration, restart, run_with_traffic, submit, wait_phase,
                              wait_slots_started)


@pytest.mark.timeout(420)
def test_split_then_merge_under_pgbench(bench):
    m = bench
    body = run_with_traffic(m, SPLIT)
    assert layout_ranges(m) == SPLIT_RANGES
    assert body["mismatches"]["checksum_mismatches"] == 0, body
    assert body["mismatches"]["shadow_mismatches"] == 0, body
    assert body["progress"]["rows_copied"] >= 70000, body  # accounts 30001.. plus their history
    phases = [j["phase"] for j in body["journal"]]
    for p in ("queued", "shadow_reads", "incremental_writes", "cutover", "deprecated", "done"):
        assert p in phases, phases
    assert body["timings"]["cutover_pause_ms"] >= 0
    check_invariants(m, "after the split")
    body = run_with_traffic(m, MERGE)
    assert layout_ranges(m) == [(None, None, 1)]
    check_invariants(m, "after the merge")


@pytest.mark.timeout(420)
def test_a_statement_spanning_both_ends_is_refused_during_a_migration(bench):
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, SPLIT, SPLIT_RANGES)
    restart(m, retention=1, rate=5000)
    mid = submit(m, MERGE)  # rows of nodes 2 and 3 are copied to node 1, slowly
    wait_phase(m, mid, ("shadow_reads",))
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    with pytest.raises(Exception) as refused:
        cur.execute("SELECT count(*) FROM pgbench_accounts")  # would count node 1's copy too
    assert getattr(refused.value, "pgcode", None) == "0A000", refused.value
    assert "being migrated" in str(refused.value)
    cur.execute("SELECT count(*) FROM pgbench_accounts WHERE aid < 30001")  # one node: fine
    assert cur.fetchone()[0] == 30000
    cur.execute("SELECT count(*) FROM pgbench_branches")  # not in the group: fine
    assert cur.fetchone()[0] == SCALE
    # Schema changes of the group's tables are refused (55006) while the migration runs, in a
    # simple query, a string of several, and the extended protocol; other DDL is not.
    for ddl in ("ALTER TABLE pgbench_accounts ADD COLUMN note text", "TRUNCATE pgbench_history",
                "COMMENT ON TABLE pgbench_branches IS 'x'; ALTER TABLE pgbench_history RENAME TO h"):
        with pytest.raises(Exception) as refused:
            cur.execute(ddl)
        assert getattr(refused.value, "pgcode", None) == "55006", (ddl, refused.value)
        assert f"migration {mid}" in str(refused.value), refused.value
    w = pgwire.PgConn(m.host, m.port)
    w.startup()
    w.send(pgwire.parse_msg("", "DROP TABLE pgbench_history") + pgwire.bind_msg("", "") +
           pgwire.execute_msg() + pgwire.sync_msg())
    r = w.read_until_ready()
    assert [e["C"] for e in r.errors] == ["55006"], r.errors
    w.close()
    cur.execute("COMMENT ON TABLE pgbench_accounts IS 'moving'")  # changes no column: runs
    for node in m.nodes():
        n = m.connect_node(node)
        with n.cursor() as ncur:
            ncur.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'pgbench_accounts'")
            assert ncur.fetchone()[0] == 4  # the ALTER reached no node
            ncur.execute("SELECT to_regclass('pgbench_history') IS NOT NULL, to_regclass('h') IS NULL")
            assert ncur.fetchone() == (True, True)
        n.close()
    # rollback before the cutover: the target ends with nothing of the group's other ranges
    status, body = m.admin_post(f"/api/v1/migrations/{mid}/rollback", {})
    assert status == 200, body
    body = wait_phase(m, mid, TERMINAL)
    assert body["phase"] == "rolled_back", body
    cur.execute("SELECT count(*) FROM pgbench_accounts")
    assert cur.fetchone()[0] == SCALE * 100000
    c.close()
    assert layout_ranges(m) == SPLIT_RANGES
    check_invariants(m, "after a rollback during the copy")
    # Once it is over, schema changes run again (and are undone for the tests after this one).
    c = m.connect()
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("ALTER TABLE pgbench_accounts ADD COLUMN note text")
        cur.execute("ALTER TABLE pgbench_accounts DROP COLUMN note")
    c.close()


@pytest.mark.timeout(420)
def test_rollback_after_cutover(bench):
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    restart(m, retention=600, rate=0)
    traffic = Traffic(m)
    mid = submit(m, SPLIT)
    wait_phase(m, mid, ("deprecated",))
    time.sleep(2)  # writes land on the targets and flow back to the sources
    status, body = m.admin_post(f"/api/v1/migrations/{mid}/rollback", {})
    assert status == 200, body
    body = wait_phase(m, mid, TERMINAL)
    time.sleep(1)
    summary = traffic.stop()
    assert body["phase"] == "rolled_back", body
    assert failed_transactions(summary) == 0, summary
    assert layout_ranges(m) == [(None, None, 1)]
    check_invariants(m, "after a rollback after the cutover")


@pytest.mark.timeout(120)
def test_a_boundaries_only_split_reports_done_once_its_map_is_published(bench):
    # It used to show `done` a moment before the data path had the new map: a move submitted
    # right then was refused ("is not a boundary of the current layout").
    m = bench
    lower, upper, node = layout_ranges(m)[-1]
    assert upper is None
    start = int(lower) if lower is not None else 1
    for step in range(1, 6):
        point = str(start + 1000 * step)
        first = {"upper": point, "node": node} if lower is None else {"lower": lower, "upper": point, "node": node}
        mid = submit(m, {"action": "split", "tables": TABLES, "tenant": None, "column": "aid",
                         "ranges": [first, {"lower": point, "node": node}]})
        deadline = time.monotonic() + 60
        while migration(m, mid)["phase"] != "done":
            assert time.monotonic() < deadline, migration(m, mid)
        assert point in [r[0] for r in layout_ranges(m)], (point, layout_ranges(m))
        lower = point
    check_invariants(m, "after boundaries-only splits")


@pytest.mark.timeout(420)
def test_a_fenced_catch_up_over_budget_opens_the_fence_and_tries_again(bench):
    # The fence may hold cutover_fence_budget_ms for the drain and the targets' catch-up; past it
    # the fence opens again (writes go on) and the cutover starts over; after cutover_attempts - 1
    # catch-ups over budget in a row the next one has no budget. The test fault makes every
    # budgeted fenced catch-up stall.
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    m.extra_args = ["--test-fault", "migration-apply-stall:10"]
    try:
        restart(m, retention=1, rate=0, extra="cutover_fence_budget_ms = 20\ncutover_attempts = 3\n")
        seen = len(m.log_text())
        body = run_with_traffic(m, SPLIT)
        log = m.log_text()[seen:]
    finally:
        m.extra_args = []
    assert layout_ranges(m) == SPLIT_RANGES
    # attempts 1 and 2 stalled past the budget and opened the fence again; the third waited. A
    # drain over budget (a pgbench transaction open as the fence closed) may come in between: it
    # opens the fence again too, but does not count as a catch-up over budget.
    assert log.count("fence opened again") - log.count("transactions on the rows still open") == 2, log
    assert log.count("test fault migration-apply-stall") == 2, log
    abandoned = body["timings"]["cutover_abandoned_ms"]
    assert len(abandoned) >= 2, body["timings"]
    assert all(20 <= ms < 2000 for ms in abandoned[-2:]), abandoned
    assert 0 <= body["timings"]["cutover_pause_ms"] < 2000, body["timings"]
    assert body["mismatches"]["checksum_mismatches"] == 0, body
    check_invariants(m, "after a cutover that opened its fence again twice")
    restart(m, retention=1, rate=0)


@pytest.mark.timeout(300)
def test_a_transaction_open_on_the_rows_past_the_budget_opens_the_fence_again(bench):
    # A transaction inside the fence that does not end within cutover_fence_budget_ms: the fence
    # opens again (other writes go on) and the cutover is tried again, until the transaction has
    # committed.
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    restart(m, retention=1, rate=0, extra="cutover_fence_budget_ms = 30\n")
    seen = len(m.log_text())
    mid = submit(m, SPLIT)
    # Creating a slot waits for the source's open transactions: open ours once both flows'
    # slots on node 1 have found their start.
    wait_slots_started(m, mid, source=1, slots=2)
    c = m.connect()
    cur = c.cursor()
    # a write (that changes nothing) to a row that moves to node 3, in a transaction left open
    cur.execute("UPDATE pgbench_accounts SET abalance = abalance WHERE aid = 70000")
    assert cur.rowcount == 1
    deadline = time.monotonic() + 120
    while "transactions on the rows still open" not in m.log_text()[seen:]:
        assert time.monotonic() < deadline, (migration(m, mid)["phase"], m.log_tail(30))
        assert migration(m, mid)["phase"] not in TERMINAL, migration(m, mid)
        time.sleep(0.05)
    c.commit()
    c.close()
    body = wait_phase(m, mid, TERMINAL)
    assert body["phase"] == "done", body
    log = m.log_text()[seen:]
    opened_again = body["timings"]["cutover_abandoned_ms"]
    assert 1 <= len(opened_again) <= 4, (opened_again, log)
    assert log.count("fence opened again") == len(opened_again), log
    assert log.count("transactions on the rows still open") >= 1, log
    assert all(30 <= ms < 1000 for ms in opened_again), opened_again
    assert layout_ranges(m) == SPLIT_RANGES
    check_invariants(m, "after a cutover that waited out an open transaction")


@pytest.mark.timeout(300)
def test_a_cancel_ends_a_statement_waiting_at_the_cutover_fence(bench):
    # A transaction open on the moving rows keeps the fence closed (no budget, a long drain):
    # a statement on those rows waits for it; the client's cancel request ends that wait at
    # once with 57014 (it used to wait until the fence opened, up to 30 s), and the cutover
    # goes on once the transaction commits.
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    restart(m, retention=1, rate=0, extra="cutover_fence_budget_ms = 0\n", drain_ms=60000)
    mid = submit(m, SPLIT)
    wait_slots_started(m, mid, source=1, slots=2)  # as in the test above
    holder = m.connect()
    hcur = holder.cursor()
    hcur.execute("UPDATE pgbench_accounts SET abalance = abalance WHERE aid = 70000")  # moves to node 3
    assert hcur.rowcount == 1
    wait_phase(m, mid, ("cutover",))
    waiter = m.connect()
    waiter.autocommit = True
    outcome = {}

    def read():
        t0 = time.monotonic()
        try:
            with waiter.cursor() as cur:
                cur.execute("SELECT abalance FROM pgbench_accounts WHERE aid = 70001")
                outcome["rows"] = cur.fetchall()
        except psycopg2.Error as e:
            outcome["error"] = e
        outcome["seconds"] = time.monotonic() - t0

    # Until the fence closes a read runs at once: read until one waits.
    deadline = time.monotonic() + 60
    while True:
        t = threading.Thread(target=read)
        t.start()
        t.join(1.0)
        if t.is_alive():
            break
        assert "rows" in outcome, outcome
        assert time.monotonic() < deadline, (migration(m, mid)["phase"], m.log_tail(30))
        outcome.clear()
        time.sleep(0.05)
    waiter.cancel()
    t.join(5.0)
    assert not t.is_alive(), "the cancel request did not end the wait at the fence"
    assert isinstance(outcome.get("error"), psycopg2.errors.QueryCanceled), outcome
    assert "cutover" in str(outcome["error"]), outcome["error"]
    assert outcome["seconds"] < 10, outcome
    assert migration(m, mid)["phase"] == "cutover"  # the fence was still closed
    waiter.close()
    holder.commit()
    holder.close()
    body = wait_phase(m, mid, TERMINAL)
    assert body["phase"] == "done", body
    assert layout_ranges(m) == SPLIT_RANGES
    check_invariants(m, "after a cutover with a cancelled wait at its fence")


def test_the_cutover_waits_for_a_transaction_in_doubt_on_its_nodes(bench):
    # A two-phase transaction whose commit was decided but not yet applied on one node (the
    # node, or the router, failed in between): prepared on the moving range's source, its other
    # half committed elsewhere. The fence cannot drain it; had the cutover gone on, the recovery
    # pass would have committed it on the deprecated copy, and its write would be lost with
    # that copy (a helper's repro: k=1500 kept its old value, k=2500 the new one). The cutover
    # now waits until the recovery pass has resolved it.
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    m.stop()
    with open(m.config_path, "w") as f:
        f.write("two_phase_recovery_interval_s = 20\n" + CONFIG.format(retention=1, rate=0, extra="", drain_ms=3000))
    m.start()
    nodes = {n["id"]: n for n in m.nodes()}
    gid = "mosaic_r1_1_424242_1"
    reader = m.connect()
    reader.autocommit = True
    with reader.cursor() as rc:
        rc.execute("SELECT abalance FROM pgbench_accounts WHERE aid = 70000")
        (before,) = rc.fetchone()
    mid = submit(m, SPLIT)
    # After the copy's slots exist (creating one waits for every prepared transaction to end).
    wait_slots_started(m, mid, source=1, slots=2)
    c = m.connect_node(nodes[1])
    c.autocommit = True
    cur = c.cursor()
    cur.execute("BEGIN")
    cur.execute("UPDATE pgbench_accounts SET abalance = -4242 WHERE aid = 70000")  # moves to node 3
    cur.execute(f"PREPARE TRANSACTION '{gid}'")
    catalog = m.connect_node(nodes[1], dbname="mosaic_catalog")
    catalog.autocommit = True
    catalog.cursor().execute("INSERT INTO mosaic.transactions (gid, outcome) VALUES (%s, 'commit')", (gid,))
    try:
        body = wait_phase(m, mid, TERMINAL, timeout=240)
        assert body["phase"] == "done", json.dumps(body, indent=1) + m.log_tail()
        cur.execute("SELECT count(*) FROM pg_prepared_xacts WHERE gid = %s", (gid,))
        assert cur.fetchone() == (0,)
        with reader.cursor() as rc:
            rc.execute("SELECT abalance FROM pgbench_accounts WHERE aid = 70000")
            assert rc.fetchall() == [(-4242,)], "the in-doubt transaction's committed write was lost" + m.log_tail()
        assert "still in doubt" in open(m.log_path).read(), m.log_tail()
        node3 = m.connect_node(nodes[3])
        with node3.cursor() as n3:
            n3.execute("SELECT abalance FROM pgbench_accounts WHERE aid = 70000")
            assert n3.fetchall() == [(-4242,)]
        node3.close()
    finally:
        c.close()
        catalog.close()
        with reader.cursor() as rc:  # the other tests check pgbench's sums
            rc.execute("UPDATE pgbench_accounts SET abalance = %s WHERE aid = 70000", (before,))
        reader.close()
        restart(m, retention=1, rate=0)
    check_invariants(m, "after a cutover that waited for a transaction in doubt")


def test_a_pause_during_incremental_writes_holds_the_cutover(bench):
    # pause "holds the migration between steps": it held the copy, but a pause during
    # incremental_writes was ignored and the cutover went on (a helper's repro, 2 of 2).
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    mid = submit(m, SPLIT)
    deadline = time.time() + 120
    while migration(m, mid)["phase"] != "incremental_writes":
        assert time.time() < deadline, migration(m, mid)
        time.sleep(0.01)
    status, body = m.admin_post(f"/api/v1/migrations/{mid}/pause", {})
    assert status == 200 and body["paused"], body
    if body["phase"] != "incremental_writes":
        pytest.skip(f"the pause came after the checksums ({body['phase']}): nothing to hold")
    time.sleep(4)
    body = migration(m, mid)
    assert body["phase"] == "incremental_writes" and body["paused"], body
    assert layout_ranges(m) == SINGLE
    status, body = m.admin_post(f"/api/v1/migrations/{mid}/resume", {})
    assert status == 200, body
    body = wait_phase(m, mid, TERMINAL, timeout=180)
    assert body["phase"] == "done", body
    assert layout_ranges(m) == SPLIT_RANGES
    check_invariants(m, "after a migration paused in incremental_writes")
