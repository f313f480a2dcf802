"""`mosaic demo --duration S`: managed nodes, the workload's SaaS data loaded through Mosaic,
skewed traffic, the rebalancer adapting by itself, and the summary saying so with the imbalance
before and after. Reachable with psql meanwhile; a clean exit at the end."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import harness

DURATION = int(os.environ.get("MOSAIC_E2E_DEMO_DURATION", "90"))


def psql(port, sql):
    return subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "mosaic",
                           "-d", "mosaic", "-c", sql], capture_output=True, text=True, timeout=30)


def section(text, title):
    """The lines of the summary's section starting with `title`, up to the next blank line."""
    start = text.index(title)
    end = text.find("\n\n", start)
    return text[start:end if end >= 0 else len(text)].splitlines()[1:]


@pytest.mark.timeout(DURATION + 150)
def test_demo_adapts_by_itself_and_summarises_it():
    base = tempfile.mkdtemp(prefix="mosaic-e2e-demo-", dir="/var/tmp")
    os.chmod(base, 0o755)
    port, admin, node_base = harness.allocate_ports(5)[:3]
    data_dir = os.path.join(base, "d")
    cmd = [harness.MOSAIC_BIN, "demo", "--duration", str(DURATION), "--data-dir", data_dir,
           "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
           "--node-base-port", str(node_base)]
    out_path = os.path.join(base, "demo.out")
    started = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        text = ""
        while time.monotonic() - started < 90 and "Mosaic demo is running" not in text:
            assert proc.poll() is None, open(out_path).read()
            time.sleep(0.5)
            text = open(out_path).read()
        assert "Mosaic demo is running on 3 managed PostgreSQL nodes" in text, text
        assert f"psql -h 127.0.0.1 -p {port} -U mosaic mosaic" in text
        r = psql(port, "SELECT count(*) FROM tenants")
        assert r.stdout.strip() == "50", r.stderr
        r = psql(port, "SELECT count(*) > 1000 FROM orders WHERE tenant_id = 1")
        assert r.stdout.strip() == "t", r.stderr

        assert proc.wait(timeout=DURATION + 90) == 0, open(out_path).read()
        text = open(out_path).read()
        assert time.monotonic() - started < DURATION + 60, "the demo ran well past its --duration"
        # Without a terminal the view is lines: the traffic and the rebalancer's decisions.
        assert re.search(r"^\[\d\d:\d\d\] traffic \d+\.\d tps", text, re.M), text
        assert "rebalancer acted: " in text, text
        assert "=== Mosaic demo summary" in text, text

        # At least one automatic split or move, cut over, with the imbalance before above the one
        # after; the first of them finished within two minutes of the start.
        adaptations = section(text, "Automatic adaptations")
        done = []
        for line in adaptations:
            m = re.search(r"^  \[(\d\d):(\d\d)\] tenant \S+: (split|move) .*imbalance (\d+\.\d+) -> (\d+\.\d+).*"
                          r"migration \d+ (?:done|deprecated)(?: after ~(\d+) s)?", line)
            if m:
                seen = int(m.group(1)) * 60 + int(m.group(2))
                done.append((seen + int(m.group(6) or 0), float(m.group(4)), float(m.group(5))))
        assert done, "\n".join(adaptations)
        assert any(before > after for _, before, after in done), "\n".join(adaptations)
        assert min(finished for finished, _, _ in done) < 120, "\n".join(adaptations)
        assert re.search(r"rebalancer decisions: \d+ acted", text), text
        # Before / after: traffic and load per node.
        assert "Before (" in text and "the first automatic migration" in text, text
        for row in ("TPS", "p99 ms", "node 1 stmt/s", "node 2 stmt/s", "node 3 stmt/s"):
            assert re.search(rf"^  {re.escape(row)} +\d+\.\d+ +\d+\.\d+ ", text, re.M), (row, text)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if harness.KEEP:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
