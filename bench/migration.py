#!/usr/bin/python3
"""Online migration under load (issue 8): move a range of pgbench_accounts (and its history)
from node 1 to node 2 while pgbench's select-only and TPC-B-like scripts run on it, then time the
write fence of many small cutovers.

Part 1 (--scale 20: 2,000,000 accounts; the upper half, 1,000,000 rows, moves): pgbench -P 1
runs throughout; per-second TPS and latency before the migration, during its copy (from the
first poll in shadow_reads to the first that sees every row copied), during the whole migration
and after it, the copy rate, and the cutover's write pause. Load averages are recorded with each
part (the machine is shared).
Part 2: --cutovers small moves (a 10,000-account range back and forth between nodes 1 and 2) with
pgbench writing to that range: p50 / p99 / max of the fence's hold time, and p50 / p99 of each
step under the fence (drain, apply, flush, recheck, catalog commit, map publish).

Prints a table; writes bench/results/migration-<date>.json (or --out).
Usage: bench/migration.py [--scale 20] [--cutovers 20] [--clients 4] [--keep] [--out FILE]
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
import threading
import time
import urllib.error
import urllib.request

from overhead import free_port, wait_port  # bench/ is this script's directory

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MOSAIC_BIN = os.environ.get("MOSAIC_BIN", os.path.join(REPO, "build", "mosaic"))
TABLES = ["pgbench_accounts", "pgbench_history"]
TERMINAL = ("done", "rolled_back", "failed")


class Router:
    def __init__(self, base):
        self.port, self.admin = free_port(), free_port()
        conf = os.path.join(base, "mosaic.toml")
        with open(conf, "w") as f:
            f.write("[migration]\nretention_s = 0\nshadow_min_s = 1\n[rebalancer]\nenabled = false\n")
        self.log = open(os.path.join(base, "mosaic.log"), "wb")
        self.proc = subprocess.Popen(
            [MOSAIC_BIN, "serve", "--config", conf, "--managed-nodes", "2", "--data-dir", os.path.join(base, "data"),
             "--node-base-port", str(free_port() + 400), "--listen", f"127.0.0.1:{self.port}",
             "--admin-listen", f"127.0.0.1:{self.admin}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout=90)

    def pgbench(self, *args):
        return subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(self.port), "-U", "mosaic", *args, "mosaic"],
                              capture_output=True, text=True)

    def api(self, method, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.admin}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode()}")

    def migrate(self, ranges, action="move", polls=None):
        """Runs one migration to its end; appends (time, phase, rows copied) of each poll to `polls`."""
        body = self.api("POST", "/api/v1/migrations",
                        {"action": action, "tables": TABLES, "tenant": None, "column": "aid", "ranges": ranges})
        mid = body["id"]
        while True:
            m = self.api("GET", f"/api/v1/migrations/{mid}")
            if polls is not None:
                polls.append((time.monotonic(), m["phase"], m.get("progress", {}).get("rows_copied", 0)))
            if m["phase"] in TERMINAL:
                if m["phase"] != "done":
                    raise RuntimeError(json.dumps(m))
                return m
            time.sleep(0.1)

    def wait_boundary(self, value):
        """Until the published shard map has `value` as a boundary of pgbench_accounts."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = self.api("GET", "/api/v1/placements?table=pgbench_accounts")
            if any(value in (r.get("lower"), r.get("upper")) for p in body["placements"] for r in p["ranges"]):
                return
            time.sleep(0.05)
        raise RuntimeError(f"boundary {value} never published")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Progress:
    """pgbench -P 1 in the background: (time, tps, latency ms) per second."""

    def __init__(self, router, clients, script_args):
        self.samples = []
        self.failed_in_progress = 0
        self.proc = subprocess.Popen(
            ["pgbench", "-h", "127.0.0.1", "-p", str(router.port), "-U", "mosaic", "-n", "-P", "1", "-c", str(clients),
             "-j", "2", "-T", "3600", *script_args, "mosaic"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        for line in self.proc.stderr:
            found = re.search(r"progress: [\d.]+ s, ([\d.]+) tps, lat ([\d.]+) ms", line)
            if found:
                self.samples.append((time.monotonic(), float(found.group(1)), float(found.group(2))))
            failed = re.search(r", (\d+) failed", line)  # per interval (pgbench 15)
            if found and failed:
                self.failed_in_progress += int(failed.group(1))

    def stop(self):
        """Failed transactions: pgbench prints no summary when interrupted (SIGINT ends it), so
        they are summed from its per-second progress lines (and the summary's count, if any)."""
        self.proc.send_signal(2)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:  # seen once on a loaded machine
            self.proc.kill()
            self.proc.wait(60)
        self.thread.join(10)  # it reads stderr to its end
        out = self.proc.stdout.read()
        failed = re.search(r"number of failed transactions: (\d+)", out or "")
        return max(self.failed_in_progress, int(failed.group(1)) if failed else 0)

    def window(self, t0, t1):
        return [(tps, lat) for t, tps, lat in self.samples if t0 <= t < t1]


def fence_steps(m, log_path):
    """{step: ms} of every step under the cutover's fence, the catalog commit and the map publish
    included: the migration's timings.cutover_steps_ms, or for a router that does not report them
    its log line ("migration 7: cut over; write fence held 9.9 ms (drain 1.2, apply 3.4, ... ms)")."""
    steps = m.get("timings", {}).get("cutover_steps_ms")
    if steps:
        return steps
    line = re.compile(rf"migration {m['id']}: cut over; write fence held [0-9.]+ ms \((.*) ms\)")
    with open(log_path, errors="replace") as f:
        for found in filter(None, map(line.search, f)):
            steps = {}
            for part in found.group(1).split(", "):
                name, ms = part.rsplit(" ", 1)
                steps[name] = steps.get(name, 0) + float(ms)  # summed over the flows
            return steps
    return {}


def step_percentiles(steps, p):
    """{step: p-th percentile over the cutovers}; a step a cutover did not run counts as 0 ms."""
    names = sorted({k for s in steps for k in s})
    return {k: round(percentile([s.get(k, 0.0) for s in steps], p), 2) for k in names}


def summarize(samples):
    if not samples:
        return {"tps": 0, "lat_ms_median": 0, "lat_ms_p99": 0, "seconds": 0}
    tps = [s[0] for s in samples]
    lat = sorted(s[1] for s in samples)
    return {"tps": statistics.median(tps), "lat_ms_median": statistics.median(lat),
            "lat_ms_p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))], "seconds": len(samples)}


def copy_window(polls, rows):
    """(start, end) of the copy: from the first poll in shadow_reads to the first that saw every row copied."""
    start = next((t for t, phase, _ in polls if phase == "shadow_reads"), polls[0][0])
    end = next((t for t, _, copied in polls if t >= start and copied >= rows), polls[-1][0])
    return start, end


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=20)
    ap.add_argument("--cutovers", type=int, default=20)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the data directory and mosaic.log")
    ap.add_argument("--out", help="where to write the JSON (default bench/results/migration-<date>.json)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="mosaic-bench-migration-", dir="/var/tmp")
    os.chmod(base, 0o755)
    router = Router(base)
    result = {"date": datetime.date.today().isoformat(), "scale": args.scale, "clients": args.clients,
              "load_average_at_start": os.getloadavg()}
    try:
        r = router.pgbench("-i", "-s", str(args.scale))
        if r.returncode:
            raise RuntimeError(r.stderr)
        half = args.scale * 100000 // 2
        # The group on node 1 as one range; part 1 moves the upper half to node 2.
        router.migrate([{"upper": str(half + 1), "node": 1}, {"lower": str(half + 1), "node": 1}], "split")
        load = Progress(router, args.clients, ["-b", "select-only@9", "-b", "tpcb-like@1"])
        time.sleep(10)
        t_before = time.monotonic()
        load_before = os.getloadavg()
        polls = []
        m = router.migrate([{"lower": str(half + 1), "node": 2}], polls=polls)
        t_after = time.monotonic()
        copy_start, copy_end = copy_window(polls, m["progress"]["rows_copied"])
        time.sleep(10)
        t_end = time.monotonic()
        failed = load.stop()
        copy_s = m["progress"]["rows_copied"] / max(1.0, m["progress"]["rows_per_s"])
        result["move"] = {
            "rows_copied": m["progress"]["rows_copied"], "copy_rows_per_s": m["progress"]["rows_per_s"],
            "copy_seconds": copy_s, "migration_seconds": t_after - t_before,
            "cutover_pause_ms": m["timings"]["cutover_pause_ms"], "fence_steps_ms": fence_steps(m, router.log.name),
            "fences_opened_again_ms": m["timings"].get("cutover_abandoned_ms", []),
            "failed_transactions": failed,
            "before": summarize(load.window(t_before - 10, t_before)),
            "during_copy": summarize(load.window(copy_start, copy_end)),
            "during": summarize(load.window(t_before, t_after)),
            "after": summarize(load.window(t_after, t_end)),
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
        }
        mv = result["move"]
        mv["tps_during_copy_vs_before"] = mv["during_copy"]["tps"] / max(1e-9, mv["before"]["tps"])
        # Part 2: small ranges back and forth, with writes on them.
        lo, hi = half + 1, half + 10001
        router.migrate([{"lower": str(lo), "upper": str(hi), "node": 2}, {"lower": str(hi), "node": 2}], "split")
        router.wait_boundary(str(hi))
        script = os.path.join(base, "range.sql")
        with open(script, "w") as f:
            f.write(f"\\set aid random({lo}, {hi - 1})\n\\set delta random(-5000, 5000)\n"
                    "BEGIN;\nUPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\n"
                    "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;\nEND;\n")
        load = Progress(router, args.clients, ["-f", script])
        load_cutovers = os.getloadavg()
        pauses, steps, abandoned = [], [], []
        node = 2
        for _ in range(args.cutovers):
            node = 1 if node == 2 else 2
            m = router.migrate([{"lower": str(lo), "upper": str(hi), "node": node}])
            # A fence opened again without the switch (catch-up over budget) paused writes too:
            # a cutover's pause is the longest of its fences.
            opened_again = m["timings"].get("cutover_abandoned_ms", [])
            pauses.append(max([m["timings"]["cutover_pause_ms"]] + opened_again))
            abandoned.extend(opened_again)
            steps.append(fence_steps(m, router.log.name))
        failed = load.stop()
        result["cutovers"] = {"count": len(pauses), "pause_ms_p50": percentile(pauses, 0.5),
                              "pause_ms_p99": percentile(pauses, 0.99), "pause_ms_max": max(pauses),
                              "pauses_ms": pauses, "fences_opened_again_ms": abandoned,
                              "fence_steps_ms_median": step_percentiles(steps, 0.5),
                              "fence_steps_ms_p99": step_percentiles(steps, 0.99), "fence_steps_ms": steps,
                              "failed_transactions": failed, "load_average_before": load_cutovers,
                              "load_average_after": os.getloadavg()}
    finally:
        router.stop()
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    mv = result["move"]
    print(f"\nmigration benchmark (scale {args.scale}, {args.clients} clients, 90% select-only / 10% TPC-B)")
    print(f"moved {mv['rows_copied']} rows in {mv['migration_seconds']:.1f} s; copy {mv['copy_rows_per_s']:.0f} rows/s")
    print(f"{'':12} {'TPS':>9} {'lat p50 ms':>11} {'lat p99 ms':>11} {'seconds':>8}")
    for k in ("before", "during_copy", "during", "after"):
        s = mv[k]
        print(f"{k:12} {s['tps']:9.0f} {s['lat_ms_median']:11.2f} {s['lat_ms_p99']:11.2f} {s['seconds']:8}")
    print(f"TPS during the copy / before: {mv['tps_during_copy_vs_before']:.2f}; load average "
          f"{mv['load_average_before']} before the move, {mv['load_average_after']} after")
    print(f"cutover write pause: {mv['cutover_pause_ms']:.1f} ms {mv['fence_steps_ms']}; "
          f"fences opened again before it (ms): {mv['fences_opened_again_ms']}; "
          f"failed transactions: {mv['failed_transactions']}")
    c = result["cutovers"]
    print(f"{c['count']} cutovers of a 10,000-row range under TPC-B writes: write pause p50 {c['pause_ms_p50']:.1f} ms, "
          f"p99 {c['pause_ms_p99']:.1f} ms, max {c['pause_ms_max']:.1f} ms (the longest fence of each, "
          f"including {len(c['fences_opened_again_ms'])} opened again without the switch: "
          f"{[round(x, 1) for x in c['fences_opened_again_ms']]}); failed transactions: {c['failed_transactions']}")
    print(f"steps under the fence, p50 (ms): {c['fence_steps_ms_median']}")
    print(f"steps under the fence, p99 (ms): {c['fence_steps_ms_p99']}")
    result["load_average_at_end"] = os.getloadavg()
    print(f"load average: {result['load_average_at_start']} at the start, {result['load_average_at_end']} at the end")
    path = args.out or os.path.join(REPO, "bench", "results", f"migration-{result['date']}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"written {path}")


if __name__ == "__main__":
    main()
