#!/usr/bin/python3
"""Skew benchmark (issue 9): a hot tenant's range scans on 2 managed nodes, each pinned to one CPU
core, with the static layout (the tenant whole on its home node) against the layout the rebalancer
adapts to, in one run.

Mosaic starts 2 managed nodes; right after start every process of node K (postmaster, its
children; backends forked later inherit it) is pinned to core K-1 with taskset. The router and
pgbench are not pinned. One table, `readings` (tenant_id, id, device, value), holds --rows rows of
the hot tenant and a few small tenants' rows; every statement aggregates --width consecutive ids of
the hot tenant (`count`, `sum`, `max` over an index range scan; uniform over its ids), so the work
is on the node and the result is one row.

Flow: load, VACUUM ANALYZE and CHECKPOINT on the nodes, warm up, --rounds rounds of --seconds s of pgbench
(-c --clients) with the static layout; one rebalancer round (POST /api/v1/rebalancer/run, planning
from the monitor's window of the static phase) and its migration to `done`; VACUUM ANALYZE and CHECKPOINT again
(the source's deleted rows, the target's new ones), warm up, the same rounds again. Prints median
TPS and p99 per phase and their ratio, the share of statements each node served (index scans
counted by the nodes), the CPU each node, the router, pgbench and the rest of the machine used, the
rebalancer's events; writes bench/results/skew-<date>.json (skew-<date>-<adapt>.json for the
other --adapt modes). Exits 1 if the layout was not adapted.
`--adapt advisor` adapts without the rebalancer: the advisor's plan (GET /api/v1/advice) submitted
as migrations with origin "rebalancer", as a round does; `--adapt median` is a yardstick, not
Mosaic's decision: the hot tenant split at its median id by hand.

Usage: bench/skew.py [--rows 1000000] [--width 20000] [--clients 8] [--rounds 3] [--seconds 20]
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import psycopg2

from overhead import free_port, run_pgbench, version, wait_port  # bench/ is this script's directory

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MOSAIC_BIN = os.environ.get("MOSAIC_BIN", os.path.join(REPO, "build", "mosaic"))
HOT_TENANT = 1
SMALL_TENANTS = range(2, 21)  # 19 small tenants, 2,000 rows each: the rest of the fleet
SMALL_ROWS = 2000
TERMINAL = ("done", "rolled_back", "failed")
TARGET_RATIO = 1.6  # issue 9: throughput after adaptation against the static layout
SCHEMA = ("CREATE TABLE readings (tenant_id int NOT NULL, id bigint NOT NULL, device int NOT NULL, "
          "value double precision NOT NULL, PRIMARY KEY (tenant_id, id))")


class Mosaic:
    """`mosaic serve` with 2 managed nodes under `base`, node K pinned to core K-1."""

    def __init__(self, base):
        self.base = base
        self.port, self.admin = free_port(), free_port()
        conf = os.path.join(base, "mosaic.toml")
        with open(conf, "w") as f:
            # Rounds only on request, planning from the last 10 minutes of the monitor's window.
            f.write("[migration]\nretention_s = 0\nshadow_min_s = 1\n"
                    "[rebalancer]\nenabled = true\ninterval_s = 0\nwindow_s = 600\ncooldown_s = 600\n")
        self.log = open(os.path.join(base, "mosaic.log"), "wb")
        self.proc = subprocess.Popen(
            [MOSAIC_BIN, "serve", "--config", conf, "--managed-nodes", "2", "--data-dir", os.path.join(base, "data"),
             "--node-base-port", str(free_port() + 400), "--listen", f"127.0.0.1:{self.port}",
             "--admin-listen", f"127.0.0.1:{self.admin}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout=120)
        self.cores = {}
        self.pin_nodes()

    def node_dir(self, node):
        return os.path.join(self.base, "data", "nodes", f"node-{node}")

    def node_port(self, node):
        with open(os.path.join(self.node_dir(node), "postmaster.pid")) as f:
            return int(f.read().splitlines()[3])

    def postmaster(self, node):
        with open(os.path.join(self.node_dir(node), "postmaster.pid")) as f:
            return int(f.readline())

    def pin_nodes(self):
        """Every process of node K on core K-1: the postmaster first (what it forks inherits the
        affinity), then the children it has already."""
        ncores = os.cpu_count() or 1
        for node in (1, 2):
            core = (node - 1) % ncores
            postmaster = self.postmaster(node)
            children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
            for pid in [postmaster] + [int(c) for c in children]:
                subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(pid)], capture_output=True)
            with open(f"/proc/{postmaster}/status") as f:
                allowed = [l.split()[1] for l in f if l.startswith("Cpus_allowed_list")][0]
            self.cores[node] = allowed

    def check_pinned(self):
        """{node: sorted set of the cores its processes may run on} (every process of the node)."""
        out = {}
        for node in (1, 2):
            postmaster = self.postmaster(node)
            pids = [postmaster] + [int(c) for c in subprocess.run(
                ["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()]
            allowed = set()
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        allowed |= {l.split()[1] for l in f if l.startswith("Cpus_allowed_list")}
                except OSError:
                    pass
            out[node] = sorted(allowed)
        return out

    def connect(self, node=None):
        port = self.port if node is None else self.node_port(node)
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="mosaic", dbname="mosaic")
        conn.autocommit = True
        return conn

    def api(self, method, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode()}")

    def wait_migration(self, mid, timeout=240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.api("GET", f"/api/v1/migrations/{mid}")
            if m["phase"] in TERMINAL:
                if m["phase"] != "done":
                    raise RuntimeError(f"migration {mid} ended {m['phase']}: {m.get('error')}")
                return m
            time.sleep(0.2)
        raise RuntimeError(f"migration {mid} not done after {timeout} s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def load(mosaic, rows):
    """The table, the hot tenant's `rows` rows and the small tenants', through Mosaic (COPY)."""
    conn = mosaic.connect()
    cur = conn.cursor()
    cur.execute(SCHEMA)
    path = os.path.join(mosaic.base, "readings.tsv")
    with open(path, "w") as f:
        for t, n in [(HOT_TENANT, rows)] + [(t, SMALL_ROWS) for t in SMALL_TENANTS]:
            f.write("".join(f"{t}\t{i}\t{i % 977}\t{(i * 7919) % 100000 / 100}\n" for i in range(1, n + 1)))
    with open(path) as f:
        cur.copy_expert("COPY readings (tenant_id, id, device, value) FROM STDIN", f)
    os.remove(path)
    conn.close()
    vacuum(mosaic)


def vacuum(mosaic):
    """VACUUM ANALYZE on the nodes themselves: statistics, visibility map and hint bits set, dead
    rows (a migration's source cleanup) gone, before a layout is measured, so that neither
    layout's rounds pay for autovacuum or first reads of new rows. Then a CHECKPOINT, so that
    neither pays for writing out what the load, the migration or the vacuum dirtied."""
    for node in (1, 2):
        c = mosaic.connect(node)
        c.cursor().execute("VACUUM ANALYZE readings")
        c.cursor().execute("CHECKPOINT")
        c.close()


def hot_rows_per_node(mosaic):
    """{node: rows of the hot tenant on it}, counted on the nodes themselves."""
    counts = {}
    for node in (1, 2):
        c = mosaic.connect(node)
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM readings WHERE tenant_id = %s", (HOT_TENANT,))
        counts[node] = cur.fetchone()[0]
        c.close()
    return counts


def index_scans(mosaic):
    """Per node, index scans of `readings` so far (the benchmark's statements run one each)."""
    out = {}
    for node in (1, 2):
        c = mosaic.connect(node)
        cur = c.cursor()
        cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables WHERE relname = 'readings'")
        out[node] = int(cur.fetchone()[0])
        c.close()
    return out


TICK = os.sysconf("SC_CLK_TCK")


def proc_ticks(pid, children_waited=False):
    """utime + stime of a process (all its threads) in clock ticks; with children_waited, plus
    those of its children it has reaped (cutime + cstime). 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = int(fields[11]) + int(fields[12])
    return ticks + (int(fields[13]) + int(fields[14]) if children_waited else 0)


def cpu_snapshot(mosaic):
    """CPU seconds used so far by each node (its postmaster, the children it has and those it has
    reaped), the router, this script's children (pgbench) and each core as a whole."""
    snap = {}
    for node in (1, 2):
        postmaster = mosaic.postmaster(node)
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
        snap[f"node{node}"] = (proc_ticks(postmaster, True) + sum(proc_ticks(int(c)) for c in children)) / TICK
    snap["router"] = proc_ticks(mosaic.proc.pid) / TICK
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    snap["pgbench"] = usage.ru_utime + usage.ru_stime
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts[0].startswith("cpu") and parts[0] != "cpu":
                busy = sum(int(v) for i, v in enumerate(parts[1:]) if i not in (3, 4))  # not idle, iowait
                snap["busy"] = snap.get("busy", 0) + busy / TICK
    snap["at"] = time.monotonic()
    return snap


def cpu_use(before, after):
    """Cores used on average between two snapshots: per node, router, pgbench, everything else on
    the machine (other processes), and the machine's idle cores."""
    secs = after["at"] - before["at"]
    use = {k: (after[k] - before[k]) / secs for k in ("node1", "node2", "router", "pgbench")}
    busy = (after["busy"] - before["busy"]) / secs
    use["others"] = max(0.0, busy - sum(use.values()))
    use["idle"] = max(0.0, (os.cpu_count() or 1) - busy)
    return use


def pgbench(mosaic, script, clients, seconds, logdir):
    return run_pgbench(mosaic.port, ["-c", str(clients), "-j", "2", "-f", script], logdir, seconds)


def measure(mosaic, label, args, script, logdir):
    """Warm-up, then args.rounds rounds: their numbers, medians and per-node statement shares."""
    pgbench(mosaic, script, args.clients, args.warmup, logdir)
    before, cpu_before = index_scans(mosaic), cpu_snapshot(mosaic)
    rounds = []
    for r in range(args.rounds):
        rounds.append(pgbench(mosaic, script, args.clients, args.seconds, logdir))
        print(f"  {label} round {r + 1}: {rounds[-1]['tps']:.0f} TPS, p99 {rounds[-1]['p99_ms']:.2f} ms", flush=True)
    cpu = cpu_use(cpu_before, cpu_snapshot(mosaic))
    after = index_scans(mosaic)
    scans = {n: after[n] - before[n] for n in after}
    total = max(1, sum(scans.values()))
    return {"rounds": rounds, "tps": statistics.median(r["tps"] for r in rounds),
            "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
            "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
            "failed": sum(r["failed"] for r in rounds),
            "node_statement_share": {str(n): scans[n] / total for n in scans}, "cpu_cores": cpu,
            "cpu_ms_per_statement": {k: cpu[k] * 1000 / statistics.mean(r["tps"] for r in rounds)
                                     for k in ("node1", "node2", "router", "pgbench")}}


class NotAdapted(RuntimeError):
    """Mosaic did not adapt the layout; `events` are the rebalancer's decisions, if any."""

    def __init__(self, message, events=()):
        super().__init__(message)
        self.events = list(events)


def adapt_by_rebalancer(mosaic):
    """One rebalancer round; waits for the migrations it started. Returns (events, migrations)."""
    reply = mosaic.api("POST", "/api/v1/rebalancer/run")
    events = reply.get("events", [])
    acted = [e for e in events if e.get("decision") == "acted" and e.get("migration_id")]
    if not acted:
        raise NotAdapted("the rebalancer started no migration", events)
    return events, [mosaic.wait_migration(e["migration_id"]) for e in acted]


def adapt_by_advisor(mosaic):
    """The advisor's plan for the hot tenant (GET /api/v1/advice), each action submitted as a
    migration with origin "rebalancer": what a rebalancer round does, by hand."""
    advice = mosaic.api("GET", f"/api/v1/advice?tenant={HOT_TENANT}&window=600")
    actions = advice.get("actions", [])
    if not actions:
        raise NotAdapted("the advisor proposes nothing: " + advice.get("summary", json.dumps(advice)))
    done = []
    for a in actions:
        body = {"action": a["action"], "tenant": a["tenant"], "tables": a["tables"], "column": a["column"],
                "ranges": [{k: r[k] for k in ("lower", "upper", "node") if r.get(k) is not None} for r in a["ranges"]],
                "origin": "rebalancer"}
        done.append(mosaic.wait_migration(mosaic.api("POST", "/api/v1/migrations", body)["id"]))
    return [{"decision": "acted", "action": a["action"], "reason": a.get("reason")} for a in actions], done


def adapt_at_median(mosaic):
    """Yardstick, not Mosaic's decision: the hot tenant split at its median id by hand, the upper
    half moved to the other node (the layout a uniform scan workload calls for)."""
    rows = hot_rows_per_node(mosaic)
    home = max(rows, key=rows.get)
    middle = sum(rows.values()) // 2 + 1
    body = {"action": "split", "tenant": str(HOT_TENANT), "tables": ["public.readings"], "column": "id",
            "ranges": [{"upper": str(middle), "node": home}, {"lower": str(middle), "node": 3 - home}]}
    return [], [mosaic.wait_migration(mosaic.api("POST", "/api/v1/migrations", body)["id"])]


ADAPT = {"rebalancer": adapt_by_rebalancer, "advisor": adapt_by_advisor, "median": adapt_at_median}


def run(args, result):
    """Starts Mosaic, loads, measures the static layout, adapts and measures again, into `result`.
    An adaptation that fails is recorded as result["error"] (the static numbers stay)."""
    base = tempfile.mkdtemp(prefix="mosaic-bench-skew-", dir="/var/tmp")
    os.chmod(base, 0o755)
    logdir = os.path.join(base, "pgbench")
    os.makedirs(logdir)
    script = os.path.join(base, "scan.sql")
    with open(script, "w") as f:
        f.write(f"\\set lo random(1, {args.rows - args.width + 1})\n\\set hi :lo + {args.width}\n"
                f"SELECT count(*), sum(value), max(value) FROM readings WHERE tenant_id = {HOT_TENANT} "
                "AND id >= :lo AND id < :hi;\n")
    mosaic = Mosaic(base)
    try:
        result["pinned"] = {str(k): v for k, v in mosaic.cores.items()}
        t0 = time.monotonic()
        load(mosaic, args.rows)
        result["load_seconds"] = time.monotonic() - t0
        result["hot_rows_per_node_static"] = {str(k): v for k, v in hot_rows_per_node(mosaic).items()}
        print(f"loaded in {result['load_seconds']:.1f} s; hot tenant rows per node: "
              f"{result['hot_rows_per_node_static']}; nodes pinned to cores {result['pinned']}", flush=True)
        result["static"] = measure(mosaic, "static", args, script, logdir)
        t0 = time.monotonic()
        try:
            events, migrations = ADAPT[args.adapt](mosaic)
        except RuntimeError as e:  # NotAdapted, a refused or failed migration
            result["error"], result["events"] = str(e), getattr(e, "events", [])
            return
        result["adapt_seconds"] = time.monotonic() - t0
        result["events"] = events
        result["migrations"] = [{k: m.get(k) for k in ("id", "action", "origin", "column", "from", "ranges", "progress",
                                                        "timings")} for m in migrations]
        vacuum(mosaic)
        result["hot_rows_per_node_adapted"] = {str(k): v for k, v in hot_rows_per_node(mosaic).items()}
        print(f"adapted in {result['adapt_seconds']:.1f} s: {len(migrations)} migration(s); hot tenant rows per node: "
              f"{result['hot_rows_per_node_adapted']}", flush=True)
        result["adapted"] = measure(mosaic, "adapted", args, script, logdir)
        result["tps_ratio"] = result["adapted"]["tps"] / result["static"]["tps"]
        result["p99_ratio"] = result["adapted"]["p99_ms"] / result["static"]["p99_ms"]
        result["pinned_at_end"] = {str(k): v for k, v in mosaic.check_pinned().items()}
    finally:
        mosaic.stop()
        shutil.rmtree(base, ignore_errors=True)


def report(result):
    print(f"\nskew benchmark ({result['adaptation']}): hot tenant {result['rows']} rows, {result['width']}-id range "
          f"aggregates, {result['clients']} clients, 2 nodes pinned to one core each; {result['rounds']} x "
          f"{result['seconds']} s per layout, medians")
    phases = [k for k in ("static", "adapted") if k in result]
    print(f"{'layout':10} {'TPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}  statements per node")
    for k in phases:
        m = result[k]
        share = " / ".join(f"{m['node_statement_share'][n] * 100:.0f}%" for n in sorted(m["node_statement_share"]))
        print(f"{k:10} {m['tps']:8.0f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f} {m['failed']:7d}  {share}")
    print("\nCPU: cores used on average over the rounds (ms per statement)")
    print(f"{'layout':10} {'node 1':>13} {'node 2':>13} {'router':>13} {'pgbench':>13} {'others':>7} {'idle':>6}")
    for k in phases:
        c, per = result[k]["cpu_cores"], result[k]["cpu_ms_per_statement"]
        cells = " ".join(f"{c[n]:5.2f} ({per[n]:4.2f})" for n in ("node1", "node2", "router", "pgbench"))
        print(f"{k:10} {cells} {c['others']:7.2f} {c['idle']:6.2f}")
    for e in result.get("events", []):
        print(f"event: {e.get('decision')} {e.get('cause') or ''} {e.get('reason', '')}")
    if "error" in result:
        print(f"NOT ADAPTED: {result['error']}")
    else:
        met = "met" if result["tps_ratio"] >= TARGET_RATIO else "NOT met"
        print(f"adapted / static: TPS {result['tps_ratio']:.2f}x (target {TARGET_RATIO}x: {met}), "
              f"p99 {result['p99_ratio']:.2f}x")
    if "pinned_at_end" in result:
        print("cores the nodes' processes may use at the end: " +
              ", ".join(f"node {n}: {','.join(c)}" for n, c in sorted(result["pinned_at_end"].items())))
    print(f"whole run {result['total_seconds']:.0f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000000, help="rows of the hot tenant")
    ap.add_argument("--width", type=int, default=20000, help="ids aggregated per statement")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--adapt", choices=sorted(ADAPT), default="rebalancer",
                    help="rebalancer: one rebalancer round (default); advisor: the advisor's plan submitted by "
                         "hand; median: a yardstick, the hot tenant split at its median id by hand")
    args = ap.parse_args()
    started = time.monotonic()
    result = {"date": datetime.date.today().isoformat(), "rows": args.rows, "width": args.width,
              "clients": args.clients, "rounds": args.rounds, "seconds": args.seconds, "adaptation": args.adapt,
              "machine": {"cores": os.cpu_count(), "kernel": platform.release(),
                          "postgres": version(["postgres", "--version"]), "pgbench": version(["pgbench", "--version"])}}
    run(args, result)
    result["total_seconds"] = time.monotonic() - started
    report(result)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    suffix = "" if args.adapt == "rebalancer" else f"-{args.adapt}"
    path = os.path.join(REPO, "bench", "results", f"skew-{result['date']}{suffix}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"written {path}")
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
