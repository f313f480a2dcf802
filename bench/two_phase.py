#!/usr/bin/python3
"""pgbench's default TPC-B-like script through Mosaic: one node vs. three nodes with
pgbench_accounts, pgbench_tellers and pgbench_branches each split on its key (so most
transactions write on several nodes and commit with two-phase commit). Rounds alternate
between the two so that drift hits both alike; medians are printed, and written to
bench/results/two-phase-<date>.json.

Usage: bench/two_phase.py [--rounds 3] [--seconds 10] [--clients 8] [--scale 3]
"""

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import urllib.request

from overhead import free_port, wait_port  # bench/ is this script's directory

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MOSAIC_BIN = os.environ.get("MOSAIC_BIN", os.path.join(REPO, "build", "mosaic"))


def layouts(scale):
    third = scale * 100000 // 3
    def split(table, column, per_unit):
        n = scale * per_unit // 3
        return {"tables": [table], "tenant": None, "column": column,
                "ranges": [{"upper": str(n + 1), "node": 1}, {"upper": str(2 * n + 1), "node": 2},
                           {"node": 3}]}
    assert third > 0
    return [split("pgbench_accounts", "aid", 100000), split("pgbench_tellers", "tid", 10),
            split("pgbench_branches", "bid", 1)]


class Router:
    def __init__(self, base, name, nodes):
        self.name, self.nodes = name, nodes
        self.port, self.admin = free_port(), free_port()
        self.log = open(os.path.join(base, f"{name}.log"), "wb")
        self.proc = subprocess.Popen(
            [MOSAIC_BIN, "serve", "--managed-nodes", str(nodes), "--data-dir", os.path.join(base, name),
             "--node-base-port", str(free_port() + 200 * nodes), "--listen", f"127.0.0.1:{self.port}",
             "--admin-listen", f"127.0.0.1:{self.admin}", "--rebalancer", "off"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout=90)

    def pgbench(self, *args):
        return subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(self.port), "-U", "mosaic", *args,
                               "mosaic"], capture_output=True, text=True)

    def init(self, scale):
        r = self.pgbench("-i", "-I", "dt")
        if r.returncode:
            raise RuntimeError(r.stderr)
        if self.nodes > 1:
            for layout in layouts(scale):
                req = urllib.request.Request(f"http://127.0.0.1:{self.admin}/api/v1/layout",
                                             data=json.dumps(layout).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=60).read()
        r = self.pgbench("-i", "-I", "gvp", "-s", str(scale))
        if r.returncode:
            raise RuntimeError(r.stderr)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def parse(out):
    tps = re.search(r"tps = ([\d.]+)", out)
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {"tps": float(tps.group(1)) if tps else 0.0, "latency_ms": float(lat.group(1)) if lat else 0.0,
            "failed": int(failed.group(1)) if failed else -1}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--scale", type=int, default=3)
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="mosaic-bench-2pc-", dir="/var/tmp")
    os.chmod(base, 0o755)
    routers = []
    try:
        routers = [Router(base, "one-node", 1), Router(base, "split3", 3)]
        for r in routers:
            r.init(args.scale)
        runs = {r.name: [] for r in routers}
        for i in range(args.rounds):
            for r in routers:
                res = r.pgbench("-n", "-c", str(args.clients), "-j", "2", "-T", str(args.seconds))
                runs[r.name].append(parse(res.stdout))
                print(f"round {i + 1} {r.name}: {runs[r.name][-1]}", flush=True)
        med = {name: {k: statistics.median(x[k] for x in v) for k in ("tps", "latency_ms")} |
               {"failed": sum(x["failed"] for x in v)} for name, v in runs.items()}
        ratio = med["split3"]["tps"] / med["one-node"]["tps"] if med["one-node"]["tps"] else 0
        print(f"\npgbench (TPC-B-like, default script) -n -c {args.clients} -j 2 -T {args.seconds}, "
              f"scale {args.scale}, {args.rounds} rounds, medians")
        print("| target | TPS | avg latency (ms) | failed |")
        print("|---|---|---|---|")
        for name in ("one-node", "split3"):
            m = med[name]
            print(f"| Mosaic, {name} | {m['tps']:.0f} | {m['latency_ms']:.2f} | {m['failed']} |")
        print(f"split3 / one-node TPS: {ratio:.2f}")
        date = datetime.date.today().isoformat()
        os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
        with open(os.path.join(REPO, "bench", "results", f"two-phase-{date}.json"), "w") as f:
            json.dump({"date": date, "args": vars(args), "runs": runs, "medians": med,
                       "split3_vs_one_node": ratio}, f, indent=2)
    finally:
        for r in routers:
            r.stop()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
