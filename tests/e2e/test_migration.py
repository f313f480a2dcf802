"""Online migration (issue 8): split, move and merge ranges while pgbench keeps writing.

pgbench_accounts and pgbench_history form one table group on aid (both have the column and every
statement of pgbench's script names it), so a split keeps each account's history with it. At
scale 1 the group is split into three ranges of aid on nodes 1 / 2 / 3 while pgbench's TPC-B-like
script runs (tellers and branches stay on node 1: most transactions then commit on two nodes),
then merged back onto node 1; the same with Mosaic killed (SIGKILL) in each phase, with a target node's
PostgreSQL killed mid-copy, and with a rollback after the cutover.

After each migration, with pgbench stopped:
  sum(abalance) = sum(tbalance) = sum(bbalance) = sum(delta), through Mosaic;
  every row is on exactly the node its layout places it (no copy left, none missing): per node
  and table, the rows outside the node's ranges are 0, and the rows the nodes hold together equal
  what Mosaic returns, row for row (an md5 of the sorted rows, per table);
  pgbench reported 0 failed transactions.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from harness import Mosaic, serving

SCALE = 1
TABLES = ["pgbench_accounts", "pgbench_history"]  # the group being moved
ALL_TABLES = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"]
CONFIG = """
[migration]
retention_s = {retention}
shadow_min_s = 1
copy_rows_per_s = {rate}
batch_rows = 5000
cutover_drain_ms = 3000
node_down_timeout_s = 120
"""
SPLIT = {"action": "split", "tables": TABLES, "tenant": None, "column": "aid",
         "ranges": [{"upper": "30001", "node": 1}, {"lower": "30001", "upper": "60001", "node": 2},
                    {"lower": "60001", "node": 3}]}
MERGE = {"action": "merge", "tables": TABLES, "tenant": None, "column": "aid",
         "ranges": [{"node": 1}]}
TERMINAL = ("done", "rolled_back", "failed")


def pgbench(m, *args, timeout=300):
    cmd = ["pgbench", "-h", m.host, "-p", str(m.port), "-U", "mosaic", *args, "mosaic"]
    return subprocess.run(cmd, env=m.client_env(), capture_output=True, text=True, timeout=timeout)


class Traffic:
    """pgbench's default script in the background, in back-to-back 2-second runs (pgbench prints
    no summary when interrupted), until stop(); returns the runs' summaries joined."""

    def __init__(self, m, clients=4):
        self.m, self.clients = m, clients
        self.summaries = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stopping.is_set():
            r = pgbench(self.m, "-n", "-c", str(self.clients), "-T", "2", timeout=120)
            self.summaries.append(r.stdout + r.stderr)

    def stop(self):
        self.stopping.set()
        self.thread.join(180)
        return "\n".join(self.summaries)


def failed_transactions(summary):
    """Failed transactions over every run; None if no run printed a summary."""
    found = re.findall(r"number of failed transactions: (\d+)", summary)
    return sum(int(f) for f in found) if found else None


def processed(summary):
    return sum(int(f) for f in re.findall(r"number of transactions actually processed: (\d+)", summary))


def submit(m, action):
    status, body = m.admin_post("/api/v1/migrations", action)
    assert status == 201, body
    return body["id"]


def migration(m, mid):
    status, body = m.admin_get_json(f"/api/v1/migrations/{mid}")
    assert status == 200, body
    return body


def wait_phase(m, mid, phases, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = migration(m, mid)
        except OSError:
            time.sleep(0.2)
            continue
        if body["phase"] in phases:
            return body
        assert body["phase"] not in TERMINAL or body["phase"] in phases, body
        time.sleep(0.1)
    raise AssertionError(f"migration {mid} did not reach {phases}: {migration(m, mid)}\n{m.log_tail()}")


def layout_ranges(m):
    status, body = m.admin_get_json("/api/v1/placements?table=pgbench_accounts")
    assert status == 200, body
    ranges = [(r["lower"], r["upper"], r["node"]) for r in body["placements"][0]["ranges"]]
    return [(None, None, ranges[0][2])] if len(ranges) == 1 else ranges


def in_range(key, lower, upper):
    return (lower is None or key >= int(lower)) and (upper is None or key < int(upper))


def table_digest(rows):
    h = hashlib.md5()
    for row in sorted(rows):
        h.update(repr(row).encode())
    return len(rows), h.hexdigest()


def check_invariants(m, what):
    ranges = layout_ranges(m)
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    sums = []
    for sql in ("SELECT sum(abalance) FROM pgbench_accounts", "SELECT sum(tbalance) FROM pgbench_tellers",
                "SELECT sum(bbalance) FROM pgbench_branches", "SELECT sum(delta) FROM pgbench_history"):
        cur.execute(sql)
        sums.append(cur.fetchone()[0] or 0)
    a, t, b, d = sums
    assert a == t == b == d, f"{what}: abalance {a}, tbalance {t}, bbalance {b}, delta {d}"
    through = {}
    for table in ALL_TABLES:
        cur.execute(f"SELECT * FROM {table}")
        through[table] = table_digest(cur.fetchall())
    c.close()
    held = {table: [] for table in ALL_TABLES}
    for n in m.nodes():
        nc = m.connect_node(n)
        nc.autocommit = True
        ncur = nc.cursor()
        mine = [(lo, hi) for lo, hi, node in ranges if node == n["id"]]
        for table in ALL_TABLES:
            ncur.execute(f"SELECT * FROM {table}")
            rows = ncur.fetchall()
            held[table] += rows
            if table not in TABLES:
                continue
            ncur.execute(f"SELECT aid FROM {table}")
            misplaced = [k for (k,) in ncur.fetchall() if not any(in_range(k, lo, hi) for lo, hi in mine)]
            assert misplaced == [], f"{what}: node {n['id']} holds {len(misplaced)} rows of {table} it should not"
        nc.close()
    for table in ALL_TABLES:
        assert table_digest(held[table]) == through[table], f"{what}: {table} differs between nodes and Mosaic"
    n_accounts = through["pgbench_accounts"][0]
    assert n_accounts == SCALE * 100000, f"{what}: {n_accounts} accounts"
    return d


@pytest.fixture(scope="module")
def bench():
    with serving(Mosaic(nodes=3, name="migration", config_text=CONFIG.format(retention=1, rate=0))) as m:
        r = pgbench(m, "-i", "-s", str(SCALE))
        assert r.returncode == 0, r.stderr
        yield m


def run_with_traffic(m, action, expect="done", during=None):
    traffic = Traffic(m)
    time.sleep(1)
    mid = submit(m, action)
    if during:
        during(mid)
    body = wait_phase(m, mid, TERMINAL, timeout=240)
    time.sleep(1)
    summary = traffic.stop()
    assert body["phase"] == expect, json.dumps(body, indent=1) + m.log_tail()
    assert failed_transactions(summary) == 0, summary
    assert processed(summary) > 0, summary
    return body


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


def restart(m, retention, rate):
    m.stop()
    with open(m.config_path, "w") as f:
        f.write(CONFIG.format(retention=retention, rate=rate))
    m.start()


def ensure(m, action, ranges):
    """Brings the group to `ranges` (with a migration if it is not there yet)."""
    if layout_ranges(m) != ranges:
        mid = submit(m, action)
        body = wait_phase(m, mid, TERMINAL)
        assert body["phase"] == "done", body
    assert layout_ranges(m) == ranges


SINGLE = [(None, None, 1)]
SPLIT_RANGES = [(None, "30001", 1), ("30001", "60001", 2), ("60001", None, 3)]


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


@pytest.mark.parametrize("phase", ["shadow_reads", "incremental_writes", "deprecated"])
@pytest.mark.timeout(420)
def test_kill_mosaic_in_each_phase(bench, phase):
    m = bench
    restart(m, retention=3, rate=0)
    ensure(m, MERGE, SINGLE)
    if phase == "shadow_reads":
        restart(m, retention=3, rate=10000)  # a slow copy, so that the kill lands in the middle of it
    traffic = Traffic(m)
    mid = submit(m, SPLIT)
    wait_phase(m, mid, (phase,))
    if phase == "shadow_reads":
        time.sleep(1.5)
    m.kill()
    summary = traffic.stop()  # pgbench loses its connections: those clients abort
    m.start()
    body = wait_phase(m, mid, TERMINAL, timeout=240)
    assert body["phase"] in ("done", "rolled_back"), body
    check_invariants(m, f"after kill -9 in {phase}")
    # and the data path still works
    r = pgbench(m, "-n", "-c", "2", "-t", "50")
    assert failed_transactions(r.stdout) == 0, r.stdout + r.stderr
    check_invariants(m, f"after kill -9 in {phase}, more traffic")


@pytest.mark.timeout(420)
def test_kill_mosaic_under_the_cutover_fence(bench):
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    m.stop()
    m.extra_args = ["--test-fault", "migration-cutover"]
    m.start()
    traffic = Traffic(m)
    mid = submit(m, SPLIT)
    m.proc.wait(120)
    assert m.proc.returncode == -signal.SIGKILL, m.log_tail()
    traffic.stop()
    m.extra_args = []
    m.start()
    body = wait_phase(m, mid, TERMINAL, timeout=240)
    assert body["phase"] == "done", body
    phases = [j["phase"] for j in body["journal"]]
    assert phases.count("cutover") >= 2, phases  # interrupted once, then done again
    check_invariants(m, "after kill -9 under the cutover fence")


@pytest.mark.timeout(420)
def test_target_node_killed_mid_copy(bench):
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    restart(m, retention=1, rate=10000)
    mid = submit(m, SPLIT)
    wait_phase(m, mid, ("shadow_reads",))
    time.sleep(1.5)
    os.kill(m.postmaster_pid(2), signal.SIGKILL)  # Mosaic's supervisor restarts it
    body = wait_phase(m, mid, TERMINAL, timeout=240)
    assert body["phase"] in ("done", "rolled_back"), body
    check_invariants(m, "after the target node was killed mid-copy")


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
