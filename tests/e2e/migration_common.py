"""Shared parts of the online migration end-to-end tests (issue 8): test_migration.py (split,
merge, refusals, rollbacks) and test_migration_crash.py (kill -9 of Mosaic or of a node mid-way),
two files so that two pytest-xdist workers run them side by side. Each test module that imports
the module-scoped `bench` fixture gets its own instance.

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
import re
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
cutover_drain_ms = {drain_ms}
node_down_timeout_s = 120
{extra}"""
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


def wait_slots_started(m, mid, source, slots, timeout=120):
    """Waits until `slots` replication slots on node `source` have found their start (creating
    a slot waits for the source's open transactions: open one only after this)."""
    node = m.connect_node(next(n for n in m.nodes() if n["id"] == source))
    node.autocommit = True
    deadline = time.monotonic() + timeout
    try:
        while True:
            with node.cursor() as q:
                q.execute("SELECT count(*) FROM pg_replication_slots WHERE confirmed_flush_lsn IS NOT NULL")
                if q.fetchone()[0] >= slots:
                    return
            assert time.monotonic() < deadline, (migration(m, mid)["phase"], m.log_tail(30))
            time.sleep(0.05)
    finally:
        node.close()


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
    with serving(Mosaic(nodes=3, name="migration", config_text=CONFIG.format(retention=1, rate=0, extra="", drain_ms=3000))) as m:
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


def restart(m, retention, rate, extra="", drain_ms=3000):
    """Restarts Mosaic with the [migration] settings above (`extra`: more lines of them)."""
    m.stop()
    with open(m.config_path, "w") as f:
        f.write(CONFIG.format(retention=retention, rate=rate, extra=extra, drain_ms=drain_ms))
    m.start()


def ensure(m, action, ranges):
    """Brings the group to `ranges` (with a migration if it is not there yet)."""
    if layout_ranges(m) != ranges:
        mid = submit(m, action)
        body = wait_phase(m, mid, TERMINAL)
        assert body["phase"] == "done", body
    assert layout_ranges(m) == ranges


def create_t(m, ranges):
    """t (k int8 PRIMARY KEY, v int NOT NULL) laid out on k in `ranges` ([{"upper", "node"}]),
    with rows k = 0..3999, v = 0; returns an autocommit connection through Mosaic."""
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute("CREATE TABLE t (k int8 PRIMARY KEY, v int NOT NULL)")
    status, body = m.admin_post("/api/v1/layout", {"tables": ["t"], "tenant": None, "column": "k", "ranges": ranges})
    assert status == 200, body
    cur.execute("INSERT INTO t VALUES " + ",".join(f"({g}, 0)" for g in range(4000)))
    return c


SINGLE = [(None, None, 1)]
SPLIT_RANGES = [(None, "30001", 1), ("30001", "60001", 2), ("60001", None, 3)]

