"""Online migration (issue 8): split, move and merge ranges while pgbench keeps writing.

pgbench_accounts and pgbench_history form one table group on aid (both have the column and every
statement of pgbench's script names it), so a split keeps each account's history with it. At
scale 3 the group is split into three ranges of aid on nodes 1 / 2 / 3 while pgbench's TPC-B-like
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

SCALE = 3
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
         "ranges": [{"upper": "100001", "node": 1}, {"lower": "100001", "upper": "200001", "node": 2},
                    {"lower": "200001", "node": 3}]}
MERGE = {"action": "merge", "tables": TABLES, "tenant": None, "column": "aid",
         "ranges": [{"node": 1}]}
TERMINAL = ("done", "rolled_back", "failed")


def pgbench(m, *args, timeout=300):
    cmd = ["pgbench", "-h", m.host, "-p", str(m.port), "-U", "mosaic", *args, "mosaic"]
    return subprocess.run(cmd, env=m.client_env(), capture_output=True, text=True, timeout=timeout)


class Traffic:
    """pgbench's default script in the background until stop(); returns its summary."""

    def __init__(self, m, clients=4):
        self.m = m
        self.proc = subprocess.Popen(
            ["pgbench", "-h", m.host, "-p", str(m.port), "-U", "mosaic", "-n", "-c", str(clients),
             "-T", "600", "mosaic"], env=m.client_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=60)
        return out + err


def failed_transactions(summary):
    found = re.search(r"number of failed transactions: (\d+)", summary)
    return int(found.group(1)) if found else None


def processed(summary):
    found = re.search(r"number of transactions actually processed: (\d+)", summary)
    return int(found.group(1)) if found else 0


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
    cur.execute("SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), "
                "(SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")
    a, t, b, d = cur.fetchone()
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


def test_split_then_merge_under_pgbench(bench):
    m = bench
    body = run_with_traffic(m, SPLIT)
    assert layout_ranges(m) == [(None, "100001", 1), ("100001", "200001", 2), ("200001", None, 3)]
    assert body["mismatches"]["checksum_mismatches"] == 0, body
    assert body["mismatches"]["shadow_mismatches"] == 0, body
    assert body["progress"]["rows_copied"] >= 200000, body  # accounts 100001.. plus their history
    phases = [j["phase"] for j in body["journal"]]
    for p in ("queued", "shadow_reads", "incremental_writes", "cutover", "deprecated", "done"):
        assert p in phases, phases
    assert body["timings"]["cutover_pause_ms"] >= 0
    check_invariants(m, "after the split")
    body = run_with_traffic(m, MERGE)
    assert layout_ranges(m) == [(None, None, 1)]
    check_invariants(m, "after the merge")


def test_a_statement_spanning_both_ends_is_refused_during_a_migration(bench):
    m = bench
    m.stop()
    open(m.config_path, "w").write(CONFIG.format(retention=600, rate=20000))
    m.start()
    mid = submit(m, SPLIT)
    wait_phase(m, mid, ("shadow_reads",))
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    with pytest.raises(Exception) as refused:
        cur.execute("SELECT count(*) FROM pgbench_accounts")
    assert getattr(refused.value, "pgcode", None) == "0A000", refused.value
    cur.execute("SELECT count(*) FROM pgbench_accounts WHERE aid < 100001")
    assert cur.fetchone()[0] == 100000
    # rollback before the cutover: the targets end with nothing
    status, body = m.admin_post(f"/api/v1/migrations/{mid}/rollback", {})
    assert status == 200, body
    body = wait_phase(m, mid, TERMINAL)
    assert body["phase"] == "rolled_back", body
    cur.execute("SELECT count(*) FROM pgbench_accounts")
    assert cur.fetchone()[0] == SCALE * 100000
    c.close()
    assert layout_ranges(m) == [(None, None, 1)]
    check_invariants(m, "after a rollback during the copy")


def test_rollback_after_cutover(bench):
    m = bench
    m.stop()
    open(m.config_path, "w").write(CONFIG.format(retention=600, rate=0))
    m.start()
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
def test_kill_mosaic_in_each_phase(bench, phase):
    m = bench
    m.stop()
    # a slow copy, so that the kill lands in the middle of it
    open(m.config_path, "w").write(CONFIG.format(retention=3, rate=40000 if phase == "shadow_reads" else 0))
    m.start()
    if layout_ranges(m) != [(None, None, 1)]:
        mid = submit(m, MERGE)
        wait_phase(m, mid, TERMINAL)
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


def test_kill_mosaic_under_the_cutover_fence(bench):
    m = bench
    m.stop()
    open(m.config_path, "w").write(CONFIG.format(retention=1, rate=0))
    m.start()
    if layout_ranges(m) != [(None, None, 1)]:
        mid = submit(m, MERGE)
        wait_phase(m, mid, TERMINAL)
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


def test_target_node_killed_mid_copy(bench):
    m = bench
    m.stop()
    open(m.config_path, "w").write(CONFIG.format(retention=1, rate=40000))
    m.start()
    if layout_ranges(m) != [(None, None, 1)]:
        mid = submit(m, MERGE)
        wait_phase(m, mid, TERMINAL)
    mid = submit(m, SPLIT)
    wait_phase(m, mid, ("shadow_reads",))
    time.sleep(1.5)
    os.kill(m.postmaster_pid(2), signal.SIGKILL)  # Mosaic's supervisor restarts it
    body = wait_phase(m, mid, TERMINAL, timeout=240)
    assert body["phase"] in ("done", "rolled_back"), body
    check_invariants(m, "after the target node was killed mid-copy")
