#!/usr/bin/python3
"""Mosaic's cost on the data path, side by side with direct PostgreSQL and PgBouncer.

Starts one managed node (through Mosaic), PgBouncer (transaction pooling, same pool size) in
front of the same node, loads pgbench data (scale 10), then runs every scenario against its
targets in alternating order (A B C A B C ...) so that drift on this shared machine hits all
alike. Prints median TPS and p50/p99 latency per target with the ratios, writes
bench/results/overhead-<date>.json and rewrites docs/benchmarks.md (table + plot).

The monitor row runs the same Mosaic (monitor on, the default) against a second Mosaic with
`--monitor off` in front of the same node (sharing its catalog).

Environment: BENCH_ROUNDS (default 3), BENCH_SECONDS (default 10), BENCH_WARMUP (seconds of
`pgbench -S -c 16` per target before the first round, not measured; default 5), MOSAIC_BIN, BENCH_ONLY
(comma-separated scenario names: run only those, print their medians, write no files).
MOSAIC_BASE_BIN (with optional MOSAIC_BASE_ARGS, split like a shell line) adds a target
"mosaic-base": that binary in front of the same node, beside "mosaic" in every scenario on one
node, so a change and its baseline (another build, or other flags such as `--workers 1`) are
measured in one run. With it set, as with BENCH_ONLY, no files are written.

Clients (pgbench) reach every target over TCP loopback, as an application on another host
would. The proxies reach the node as a co-located proxy does: over its Unix socket (Mosaic's
own managed-node connections do so by default, PgBouncer's `host=` names the socket directory).
BENCH_NODE_HOP=tcp runs both proxies' node connections over TCP loopback instead (Mosaic with
`[managed] unix_socket = false`), as every run before 2026-11-30 did.
"""
import datetime
import glob
import json
import urllib.request
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOSAIC_BIN = os.environ.get("MOSAIC_BIN", os.path.join(REPO, "build", "mosaic"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "5"))  # seconds of unmeasured load per target
POOL_SIZE = 20
NODE_HOP = os.environ.get("BENCH_NODE_HOP", "unix")
if NODE_HOP not in ("unix", "tcp"):
    sys.exit("BENCH_NODE_HOP must be unix or tcp")

# name, pgbench arguments, targets
SCENARIOS = [
    ("select c1", ["-S", "-c", "1", "-j", "1"], ["direct", "pgbouncer", "mosaic"]),
    ("select c16", ["-S", "-c", "16", "-j", "2"], ["direct", "pgbouncer", "mosaic"]),
    ("select prepared c16", ["-S", "-M", "prepared", "-c", "16", "-j", "2"], ["direct", "mosaic"]),
    ("simple-update c8", ["-N", "-c", "8", "-j", "2"], ["direct", "pgbouncer", "mosaic"]),
    ("select c500", ["-S", "-c", "500", "-j", "2"], ["pgbouncer", "mosaic"]),
    # pgbench_accounts (and pgbench_history) split on aid over 3 managed nodes, vs. one node
    ("select c16 split3", ["-S", "-c", "16", "-j", "2"], ["mosaic", "mosaic-split3"]),
    # the query pattern monitor on (the default) vs off, same node
    ("select c16 monitor", ["-S", "-c", "16", "-j", "2"], ["mosaic", "mosaic-nomon"]),
    # pipelining on (the default, depth 4) vs off (--pipeline-depth 0), same node
    ("select c16 pipelining", ["-S", "-c", "16", "-j", "2"], ["mosaic", "mosaic-nopipe"]),
    # the router's node connections over the node's Unix socket (the default for managed
    # nodes) vs over TCP loopback (a second router, --node host=127.0.0.1), same node
    ("select c16 node hop", ["-S", "-c", "16", "-j", "2"], ["mosaic", "mosaic-tcp"]),
]
if NODE_HOP == "tcp":  # both routers would go over TCP: no node-hop row
    SCENARIOS = [sc for sc in SCENARIOS if "mosaic-tcp" not in sc[2]]
ONLY = [n for n in os.environ.get("BENCH_ONLY", "").split(",") if n]
if ONLY:
    SCENARIOS = [sc for sc in SCENARIOS if sc[0] in ONLY]
BASE_BIN = os.environ.get("MOSAIC_BASE_BIN")
BASE_ARGS = shlex.split(os.environ.get("MOSAIC_BASE_ARGS", ""))
if BASE_BIN:
    SCENARIOS = [(name, args, targets + ["mosaic-base"]
                  if "mosaic" in targets and not any(t in targets for t in ("mosaic-split3", "mosaic-nomon", "mosaic-nopipe", "mosaic-tcp"))
                  else targets)
                 for name, args, targets in SCENARIOS]
USES_SPLIT = any("mosaic-split3" in sc[2] for sc in SCENARIOS)
USES = {t for sc in SCENARIOS for t in sc[2]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def run_pgbench(port, args, logdir, seconds=None):
    """pgbench through 127.0.0.1:port for `seconds` (default BENCH_SECONDS), logging every
    transaction in logdir: {"tps", "failed", "p50_ms", "p99_ms"}."""
    seconds = seconds or SECONDS
    for f in glob.glob(os.path.join(logdir, "pgb*")):
        os.remove(f)
    cmd = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "mosaic", "-T", str(seconds),
           "-n", "-l", "--log-prefix", os.path.join(logdir, "pgb")] + args + ["mosaic"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 4 + 60)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    tps = None
    failed = 0
    for line in out.stdout.splitlines():
        if line.startswith("tps ="):
            tps = float(line.split()[2])
        if line.startswith("number of failed transactions:"):
            failed = int(line.split(":")[1].split()[0])
    lat = []
    for f in glob.glob(os.path.join(logdir, "pgb*")):
        with open(f) as fh:
            for row in fh:
                parts = row.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]))
    return {"tps": tps, "failed": failed, "p50_ms": percentile(lat, 50) / 1000.0,
            "p99_ms": percentile(lat, 99) / 1000.0}


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Stack:
    """Mosaic on one managed node, and PgBouncer in front of the same node."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mosaic-bench-", dir="/var/tmp")
        os.chmod(self.dir, 0o755)
        self.mosaic_port, self.admin_port, self.node_port, self.bouncer_port = (
            free_port(), free_port(), free_port(), free_port())
        self.split_port, self.split_admin = free_port(), free_port()
        self.split_node_base = free_port() + 100
        self.nomon_port, self.nomon_admin = free_port(), free_port()
        self.nopipe_port, self.nopipe_admin = free_port(), free_port()
        self.base_port, self.base_admin = free_port(), free_port()
        self.tcp_port, self.tcp_admin = free_port(), free_port()
        self.procs = []

    def start(self):
        log = open(os.path.join(self.dir, "mosaic.log"), "wb")
        # Where the managed node puts its socket (the node's directory), and how the proxies
        # reach the node: that directory (a Unix socket) or TCP loopback.
        self.node_host = (os.path.join(self.dir, "data", "nodes", "node-1") if NODE_HOP == "unix"
                          else "127.0.0.1")
        self.hop_args = []
        if NODE_HOP == "tcp":
            conf = os.path.join(self.dir, "managed-tcp.toml")
            with open(conf, "w") as f:
                f.write("[managed]\nunix_socket = false\n")
            self.hop_args = ["--config", conf]
        self.mosaic = subprocess.Popen(
            [MOSAIC_BIN, "serve", "--managed-nodes", "1", "--data-dir", os.path.join(self.dir, "data"),
             "--node-base-port", str(self.node_port), "--listen", f"127.0.0.1:{self.mosaic_port}",
             "--admin-listen", f"127.0.0.1:{self.admin_port}", "--pool-size", str(POOL_SIZE), "--rebalancer", "off"]
            + self.hop_args,
            stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(self.mosaic)
        if USES_SPLIT:
            self.split = self.serve("mosaic-split3", self.split_port, self.split_admin,
                                    ["--managed-nodes", "3", "--data-dir", os.path.join(self.dir, "data-split3"),
                                     "--node-base-port", str(self.split_node_base)] + self.hop_args)
        wait_port(self.mosaic_port)
        wait_port(self.node_port)
        if USES_SPLIT:
            wait_port(self.split_port)
        same_node = ["--node", f"host={self.node_host} port={self.node_port} dbname=mosaic user=mosaic"]
        if "mosaic-nomon" in USES:
            self.nomon = self.serve("mosaic-nomon", self.nomon_port, self.nomon_admin, same_node + ["--monitor", "off"])
            wait_port(self.nomon_port)
        if "mosaic-nopipe" in USES:
            self.nopipe = self.serve("mosaic-nopipe", self.nopipe_port, self.nopipe_admin,
                                     same_node + ["--pipeline-depth", "0"])
            wait_port(self.nopipe_port)
        if "mosaic-tcp" in USES:
            self.tcp = self.serve("mosaic-tcp", self.tcp_port, self.tcp_admin,
                                  ["--node", f"host=127.0.0.1 port={self.node_port} dbname=mosaic user=mosaic"])
            wait_port(self.tcp_port)
        if BASE_BIN:
            self.base = self.serve("mosaic-base", self.base_port, self.base_admin, same_node + BASE_ARGS,
                                   binary=BASE_BIN)
            wait_port(self.base_port)
        ini = os.path.join(self.dir, "pgbouncer.ini")
        users = os.path.join(self.dir, "userlist.txt")
        with open(users, "w") as f:
            f.write('"mosaic" ""\n')
        with open(ini, "w") as f:
            f.write(f"""[databases]
mosaic = host={self.node_host} port={self.node_port} dbname=mosaic user=mosaic
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.bouncer_port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = 2000
logfile = {os.path.join(self.dir, 'pgbouncer.log')}
""")
        for p in (ini, users):
            os.chmod(p, 0o644)
        cmd = ["pgbouncer", ini]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            shutil.chown(self.dir, "postgres")
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        self.bouncer = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(self.bouncer)
        wait_port(self.bouncer_port)

    def serve(self, name, port, admin_port, args, binary=MOSAIC_BIN):
        """Another `mosaic serve` listening on `port`, logging to DIR/<name>.log."""
        log = open(os.path.join(self.dir, f"{name}.log"), "wb")
        proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}",
                                 "--admin-listen", f"127.0.0.1:{admin_port}", "--pool-size", str(POOL_SIZE), "--rebalancer", "off"] + args,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def port(self, target):
        return {"direct": self.node_port, "pgbouncer": self.bouncer_port, "mosaic": self.mosaic_port,
                "mosaic-split3": self.split_port, "mosaic-nomon": self.nomon_port, "mosaic-nopipe": self.nopipe_port,
                "mosaic-base": self.base_port, "mosaic-tcp": self.tcp_port}[target]

    def init_split(self, scale):
        """pgbench tables through the 3-node Mosaic, pgbench_accounts + pgbench_history laid out
        on aid in three equal ranges before the data is generated (so rows land in place)."""
        base = ["pgbench", "-h", "127.0.0.1", "-p", str(self.split_port), "-U", "mosaic", "-q"]
        r = subprocess.run(base + ["-i", "-I", "dt", "mosaic"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        third = scale * 100000 // 3
        layout = {"tables": ["pgbench_accounts", "pgbench_history"], "tenant": None, "column": "aid",
                  "ranges": [{"upper": str(third + 1), "node": 1}, {"upper": str(2 * third + 1), "node": 2},
                             {"node": 3}]}
        req = urllib.request.Request(f"http://127.0.0.1:{self.split_admin}/api/v1/layout",
                                     data=json.dumps(layout).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=60).read()
        r = subprocess.run(base + ["-i", "-I", "gvp", "-s", str(scale), "mosaic"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def main():
    stack = Stack()
    try:
        stack.start()
        init = subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(stack.node_port), "-U", "mosaic",
                               "-i", "-s", "10", "-q", "mosaic"], capture_output=True, text=True)
        if init.returncode != 0:
            raise RuntimeError(init.stderr)
        if USES_SPLIT:
            stack.init_split(10)
        # Let the loads settle (checkpoints, autovacuum) before measuring: on 2 cores a checkpoint
        # of four freshly loaded clusters stalls new server connections for seconds. The split's
        # rows came through Mosaic's pooled backends, which report their inserts to the
        # statistics only once idle (up to 10 s later): pgbench's VACUUM right after the load
        # ran before they counted, and autovacuum then vacuumed each third of pgbench_accounts
        # during the first measured rounds. So wait for the reports and vacuum every node again
        # (directly) first.
        time.sleep(11)
        for port in [stack.node_port] + ([stack.split_node_base + i for i in range(3)] if USES_SPLIT else []):
            for sql in ("VACUUM (ANALYZE)", "CHECKPOINT"):
                done = subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "mosaic",
                                       "-d", "mosaic", "-c", sql], capture_output=True, text=True)
                if done.returncode != 0:
                    raise RuntimeError(f"{sql} on node port {port}: {done.stderr}")
        time.sleep(10)
        logdir = os.path.join(stack.dir, "logs")
        os.makedirs(logdir)
        # One unmeasured run per target first: a cold target (its routers' pools and analysis
        # caches, its nodes' shared buffers) would otherwise lose the first round to its warm-up.
        for target in sorted(USES) if WARMUP > 0 else []:
            run_pgbench(stack.port(target), ["-S", "-c", "16", "-j", "2"], logdir, WARMUP)
        runs = {}
        mosaic_rss_500 = []
        for rnd in range(ROUNDS):
            for name, args, targets in SCENARIOS:
                for target in targets:
                    if name == "select c500" and target == "mosaic":
                        before = rss_kib(stack.mosaic.pid)
                    r = run_pgbench(stack.port(target), args, logdir)
                    if name == "select c500" and target == "mosaic":
                        mosaic_rss_500.append(max(before, rss_kib(stack.mosaic.pid)))
                    runs.setdefault((name, target), []).append(r)
                    print(f"round {rnd + 1}/{ROUNDS} {name:22s} {target:9s} tps={r['tps']:.0f} "
                          f"p50={r['p50_ms']:.3f}ms p99={r['p99_ms']:.3f}ms failed={r['failed']}",
                          flush=True)
    finally:
        stack.stop()
    report(runs, mosaic_rss_500)


def report(runs, mosaic_rss_500):
    rows = []
    for name, args, targets in SCENARIOS:
        med = {}
        for t in targets:
            rs = runs[(name, t)]
            med[t] = {"tps": statistics.median(r["tps"] for r in rs),
                      "p50_ms": statistics.median(r["p50_ms"] for r in rs),
                      "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                      "failed": sum(r["failed"] for r in rs), "rounds": [r["tps"] for r in rs]}
        row = {"scenario": name, "pgbench": " ".join(args), "targets": med}
        if "direct" in med:
            row["mosaic_vs_direct"] = med["mosaic"]["tps"] / med["direct"]["tps"]
            row["mosaic_added_p50_us"] = (med["mosaic"]["p50_ms"] - med["direct"]["p50_ms"]) * 1000
        if "pgbouncer" in med:
            row["mosaic_vs_pgbouncer"] = med["mosaic"]["tps"] / med["pgbouncer"]["tps"]
        if "mosaic-split3" in med:
            row["split3_vs_one_node"] = med["mosaic-split3"]["tps"] / med["mosaic"]["tps"]
        if "mosaic-nomon" in med:
            row["monitor_on_vs_off"] = med["mosaic"]["tps"] / med["mosaic-nomon"]["tps"]
        if "mosaic-nopipe" in med:
            row["pipelining_on_vs_off"] = med["mosaic"]["tps"] / med["mosaic-nopipe"]["tps"]
        if "mosaic-tcp" in med:
            row["unix_vs_tcp_node_hop"] = med["mosaic"]["tps"] / med["mosaic-tcp"]["tps"]
        if "mosaic-base" in med:
            row["mosaic_vs_base"] = med["mosaic"]["tps"] / med["mosaic-base"]["tps"]
            row["mosaic_minus_base_p50_us"] = (med["mosaic"]["p50_ms"] - med["mosaic-base"]["p50_ms"]) * 1000
        rows.append(row)
    if ONLY or BASE_BIN:
        print(json.dumps(rows, indent=2))
        return
    c16 = next(r for r in rows if r["scenario"] == "select c16")["targets"]["mosaic"]["tps"]
    c500 = next(r for r in rows if r["scenario"] == "select c500")["targets"]["mosaic"]["tps"]
    summary = {"mosaic_c500_vs_c16": c500 / c16,
               "mosaic_rss_mib_500_clients": max(mosaic_rss_500) / 1024 if mosaic_rss_500 else None}
    table = render_table(rows, summary)
    print("\n" + table)
    date = datetime.date.today().isoformat()
    machine = {"cpus": os.cpu_count(), "kernel": platform.release(),
               "postgres": version(["/usr/lib/postgresql/15/bin/postgres", "--version"]),
               "pgbouncer": version(["pgbouncer", "--version"]), "pgbench": version(["pgbench", "--version"])}
    result = {"date": date, "rounds": ROUNDS, "seconds": SECONDS, "pool_size": POOL_SIZE, "node_hop": NODE_HOP,
              "machine": machine, "rows": rows, "summary": summary}
    out = os.path.join(REPO, "bench", "results", f"overhead-{date}.json")
    n = 2
    while os.path.exists(out):  # an earlier run of the day keeps its file
        out = os.path.join(REPO, "bench", "results", f"overhead-{date}-{n}.json")
        n += 1
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    plot = plot_png(rows, date)
    write_doc(table, machine, date, plot, os.path.relpath(out, REPO))
    print(f"\nwrote {out} and docs/benchmarks.md")


def fmt_ratio(v):
    return "" if v is None else f"{v:.2f}"


def render_table(rows, summary):
    lines = ["| scenario | target | median TPS | p50 ms | p99 ms | failed | Mosaic/direct | Mosaic/PgBouncer |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        for t, m in row["targets"].items():
            is_m = t == "mosaic"
            lines.append(f"| {row['scenario']} | {t} | {m['tps']:.0f} | {m['p50_ms']:.3f} | {m['p99_ms']:.3f} | "
                         f"{m['failed']} | {fmt_ratio(row.get('mosaic_vs_direct')) if is_m else ''} | "
                         f"{fmt_ratio(row.get('mosaic_vs_pgbouncer')) if is_m else ''} |")
    c1 = next(r for r in rows if r["scenario"] == "select c1")
    lines.append("")
    lines.append(f"- Mosaic adds {c1['mosaic_added_p50_us']:.0f} µs to the median latency of direct at -c 1.")
    mon = next((r for r in rows if "monitor_on_vs_off" in r), None)
    if mon:
        lines.append(f"- The query pattern monitor on reaches {mon['monitor_on_vs_off']:.3f} of the TPS with it off "
                     f"(`{mon['pgbench']}`, same node, rounds alternating).")
    pipe = next((r for r in rows if "pipelining_on_vs_off" in r), None)
    if pipe:
        lines.append(f"- Pipelining on (depth 4, the default) reaches {pipe['pipelining_on_vs_off']:.3f} of the TPS "
                     f"with it off (`{pipe['pgbench']}`, same node, rounds alternating).")
    hop = next((r for r in rows if "unix_vs_tcp_node_hop" in r), None)
    if hop:
        lines.append(f"- Mosaic reaching its node over the Unix socket reaches {hop['unix_vs_tcp_node_hop']:.3f} of the "
                     f"TPS of Mosaic reaching it over TCP loopback (`{hop['pgbench']}`, same node, rounds alternating).")
    split = next((r for r in rows if "split3_vs_one_node" in r), None)
    if split:
        lines.append(f"- Mosaic with pgbench_accounts split over 3 nodes reaches {split['split3_vs_one_node']:.2f} "
                     f"of Mosaic on one node (`-S -c 16`).")
    lines.append(f"- Mosaic at -c 500 reaches {summary['mosaic_c500_vs_c16']:.2f} of its -c 16 TPS; "
                 f"RSS with 500 clients: {summary['mosaic_rss_mib_500_clients']:.1f} MiB.")
    return "\n".join(lines)


def plot_png(rows, date):
    if shutil.which("gnuplot") is None:
        return None
    data = os.path.join(tempfile.gettempdir(), "mosaic-bench.dat")
    with open(data, "w") as f:
        for row in rows:
            t = row["targets"]
            vals = [t.get(k, {}).get("tps", 0) for k in ("direct", "pgbouncer", "mosaic")]
            f.write(f"\"{row['scenario']}\" {vals[0]:.0f} {vals[1]:.0f} {vals[2]:.0f}\n")
    png = os.path.join(REPO, "docs", "benchmarks.png")
    script = f"""set terminal png size 900,450
set output '{png}'
set title 'Median TPS, {date} (pgbench scale 10, 2 cores)'
set style data histograms
set style histogram clustered gap 1
set style fill solid border -1
set ylabel 'TPS'
set key top right
plot '{data}' using 2:xtic(1) title 'direct', '' using 3 title 'PgBouncer', '' using 4 title 'Mosaic'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
    return "benchmarks.png" if os.path.exists(png) else None


HOP_TEXT = {
    "unix": "the proxies (Mosaic, PgBouncer) reach the node over its Unix socket, as a proxy\n"
            "co-located with its nodes does (`BENCH_NODE_HOP=unix`, the default).",
    "tcp": "the proxies (Mosaic, PgBouncer) reach the node over TCP loopback too\n"
           "(`BENCH_NODE_HOP=tcp`).",
}


def write_doc(table, machine, date, plot, raw):
    path = os.path.join(REPO, "docs", "benchmarks.md")
    old = open(path).read() if os.path.exists(path) else ""
    marker = "<!-- notes below are kept by bench/overhead.py -->"
    notes = old[old.index(marker):] if marker in old else marker + "\n"
    doc = f"""# Benchmarks

Mosaic's cost on the data path, measured by `make bench` (`bench/overhead.py`) on {date}.
One managed PostgreSQL 15 node (the `split3` row: a second Mosaic on 3 managed nodes with
pgbench_accounts split on aid in three equal ranges); PgBouncer in transaction pooling with the same pool size
({POOL_SIZE}) in front of the same node; pgbench scale 10, every node vacuumed after the load; one
unmeasured {WARMUP} s run per target, then {ROUNDS} rounds of {SECONDS} s per
target, targets alternating (A B C A B C …); medians. pgbench reaches every target over TCP
loopback; {HOP_TEXT[NODE_HOP]}

Machine: {machine['cpus']} cores, kernel {machine['kernel']}; {machine['postgres']};
{machine['pgbouncer']}; {machine['pgbench']}.

{table}

{"![median TPS](" + plot + ")" if plot else ""}

Commands: `pgbench -h 127.0.0.1 -p PORT -U mosaic -T {SECONDS} -n -l <scenario args> mosaic`,
scenario arguments as in the table's first column (`-S` select-only, `-N` simple-update,
`-j 2` threads except at `-c 1`). Raw numbers: `{raw}`.

{notes}"""
    with open(path, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    sys.exit(main())
