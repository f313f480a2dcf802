"""The query pattern monitor (issue 5) with synthetic workloads of known truth, through Mosaic
over 2 managed nodes, checked through GET /api/v1/patterns, /metrics and `mosaic patterns`:

  tenant A  reads orders by created_at ranges; 90% of the ranges lie in the last 30 days
            (psycopg2: simple protocol, literals)
  tenant B  reads orders by customer_id = c with c Zipf(1.2) over 1..1000
            (pgbench -f -M extended: bound parameters)
  tenant C  mostly writes (INSERT/UPDATE), a few reads
Tolerances are stated next to each check. Then kill -9 and a restart: the patterns are
still there (the checkpoint interval is 1 s and the test waits 3 s before the kill).
"""

import datetime
import json
import os
import random
import signal
import subprocess
import tempfile
import time

import pytest

from harness import MOSAIC_BIN, Mosaic, serving

TODAY = datetime.date.today()
A_QUERIES = 300
B_TRANSACTIONS = 400
C_WRITES, C_READS = 240, 30


def pgbench(m, *args, timeout=120):
    cmd = ["pgbench", "-h", m.host, "-p", str(m.port), "-U", "mosaic", *args, "mosaic"]
    return subprocess.run(cmd, env=m.client_env(), capture_output=True, text=True, timeout=timeout)


def patterns(m, query):
    status, body = m.admin_get_json("/api/v1/patterns" + query)
    assert status == 200, body
    return body


def table(p, name):
    for t in p["tables"]:
        if t["table"] == name:
            return t
    raise AssertionError(f"no table {name} in {json.dumps(p)[:2000]}")


def run_workloads(m):
    conn = m.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE TABLE orders (tenant_id text, id bigint, customer_id int, created_at date, "
                "total numeric, status text)")
    for tenant in ("A", "B", "C"):
        rows = ",".join(
            cur.mogrify("(%s, %s, %s, %s, %s, 'open')",
                        (tenant, i, i % 1000 + 1, TODAY - datetime.timedelta(days=i % 365), i)).decode()
            for i in range(365))
        cur.execute("INSERT INTO orders VALUES " + rows)

    rng = random.Random(5)
    for i in range(A_QUERIES):
        if i % 10 == 0:  # 10%: anywhere in the last year, before the hot 30 days
            start = TODAY - datetime.timedelta(days=rng.randint(35, 360))
        else:
            start = TODAY - datetime.timedelta(days=rng.randint(3, 29))
        end = start + datetime.timedelta(days=rng.randint(1, 3))
        cur.execute("SELECT count(*) FROM orders WHERE tenant_id = 'A' AND created_at >= %s "
                    "AND created_at < %s", (start, end))

    for i in range(C_WRITES):
        if i % 4 == 3:
            cur.execute("UPDATE orders SET status = 'paid' WHERE tenant_id = 'C' AND id = %s", (i,))
        else:
            cur.execute("INSERT INTO orders VALUES ('C', %s, 1, %s, 10, 'new')", (1000 + i, TODAY))
    for i in range(C_READS):
        cur.execute("SELECT * FROM orders WHERE tenant_id = 'C' AND id = %s", (i,))
    conn.close()

    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("\\set c random_zipfian(1, 1000, 1.2)\n"
                "SELECT * FROM orders WHERE tenant_id = 'B' AND customer_id = :c;\n")
        script = f.name
    try:
        r = pgbench(m, "-n", "-M", "extended", "--random-seed", "5", "-f", script, "-c", "2",
                    "-t", str(B_TRANSACTIONS // 2))
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        os.unlink(script)


@pytest.fixture(scope="module")
def monitored():
    with serving(Mosaic(nodes=2, name="monitor", extra_args=["--monitor-checkpoint", "1"])) as m:
        run_workloads(m)
        yield m


def test_tenants_listed_by_load(monitored):
    body = patterns(monitored, "")
    names = [t["tenant"] for t in body["tenants"]]
    assert {"A", "B", "C"} <= set(names), body
    load = {t["tenant"]: t["statements"] for t in body["tenants"]}
    # every statement, none sampled (+1: the INSERT that loaded the tenant's rows)
    assert load["B"] == B_TRANSACTIONS + 1 and load["A"] == A_QUERIES + 1
    assert names.index("B") < names.index("A"), "heaviest first"


def test_tenant_a_ranges_in_the_last_30_days(monitored):
    p = patterns(monitored, "?tenant=A&window=3600")
    assert p["tenant"] == "A" and p["window_seconds"] == 3600
    orders = table(p, "orders")
    assert orders["statements"] == A_QUERIES + 1 and orders["reads"] == A_QUERIES
    top = orders["columns"][0]
    assert top["column"] == "created_at", orders["columns"]
    assert top["by_op"]["range"] == 2 * A_QUERIES  # two range predicates per query
    assert orders["latency_ms"]["p50"] > 0 and orders["latency_ms"]["p99"] >= orders["latency_ms"]["p50"]
    hot = top["hot_ranges"][0]
    # tolerance: the hottest range lies within the true 30 days, give or take 4 days
    lower = datetime.date.fromisoformat(hot["lower"])
    upper = datetime.date.fromisoformat(hot["upper"])
    assert TODAY - datetime.timedelta(days=34) <= lower <= upper <= TODAY + datetime.timedelta(days=4), hot
    assert hot["share"] >= 0.6, hot  # true share 0.9
    shares = [h["share"] for h in top["hot_ranges"]]
    assert shares == sorted(shares, reverse=True)
    fp = p["fingerprints"][0]
    assert fp["calls"] == A_QUERIES and "created_at >= ?" in fp["query"], fp


def test_tenant_b_zipf_heaviest_values(monitored):
    p = patterns(monitored, "?tenant=B&table=orders")
    orders = table(p, "orders")
    top = orders["columns"][0]
    assert top["column"] == "customer_id" and top["by_op"]["eq"] == B_TRANSACTIONS, top
    values = [v["value"] for v in top["top_values"]]
    assert values[0] == "1", top["top_values"]
    # true share of customer 1 under Zipf(1.2) over 1..1000 is about 0.23
    assert 0.13 <= top["top_values"][0]["share"] <= 0.35, top["top_values"]
    assert set(values[:3]) <= {"1", "2", "3", "4", "5"}, values
    assert p["fingerprints"][0]["calls"] == B_TRANSACTIONS


def test_tenant_c_writes_mostly(monitored):
    orders = table(patterns(monitored, "?tenant=C"), "orders")
    share = orders["writes"] / orders["statements"]
    expected = (C_WRITES + 1) / (C_WRITES + C_READS + 1)  # 0.889 (+1: the loading INSERT)
    assert abs(share - expected) <= 0.02, orders
    assert orders["rows"] >= C_WRITES  # each write changes one row (updates of ids < 365)


def test_bad_parameters_are_400_naming_them(monitored):
    for query, name in (("?tenant=A&window=abc", "window"), ("?tenant=A&window=-5", "window"),
                        ("?tenant=", "tenant"), ("?table=orders", "table")):
        status, body = monitored.admin_get_json("/api/v1/patterns" + query)
        assert status == 400 and name in body["error"], (query, status, body)


def test_metrics_per_node_and_tenant(monitored):
    text = monitored.metrics()
    assert 'mosaic_tenant_statements_total{tenant="B"} 401' in text, text
    assert "mosaic_node_statements_total{node=" in text
    assert "mosaic_monitor_events_dropped_total 0" in text


def test_cli_prints_tables_and_json(monitored):
    admin = f"{monitored.host}:{monitored.admin_port}"
    r = subprocess.run([MOSAIC_BIN, "patterns", "--admin", admin], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "TENANT" in r.stdout and "\nB " in r.stdout, r.stdout + r.stderr
    r = subprocess.run([MOSAIC_BIN, "patterns", "--admin", admin, "--tenant", "A", "--window", "600"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "created_at" in r.stdout and "HOT_RANGE" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([MOSAIC_BIN, "patterns", "--admin", admin, "--tenant", "B", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert json.loads(r.stdout)["tenant"] == "B"
    r = subprocess.run([MOSAIC_BIN, "patterns", "--admin", admin, "--window", "x"], capture_output=True, text=True)
    assert r.returncode != 0


def test_advice_splits_each_tenant_on_the_column_it_filters_by(monitored):
    """Issue 6: from the monitor's window and the nodes' statistics, the advisor proposes tenant A
    split by its date column and tenant B by customer_id, and says why."""
    m = monitored
    chosen = {}
    for tenant in ("A", "B"):
        status, advice = m.admin_get_json(f"/api/v1/advice?tenant={tenant}")
        assert status == 200, advice
        assert advice["tenant"] == tenant
        assert advice["actions"], f"no action for {tenant}: {advice.get('summary')}"
        split = [a for a in advice["actions"] if a["action"] == "split"]
        assert split, advice["actions"]
        chosen[tenant] = split[0]["column"]
        assert len(split[0]["ranges"]) >= 2
        assert split[0]["reason"]
        assert advice["predicted"]["imbalance"] < advice["current"]["imbalance"], advice
    assert chosen == {"A": "created_at", "B": "customer_id"}, chosen
    admin = f"{m.host}:{m.admin_port}"
    r = subprocess.run([MOSAIC_BIN, "advise", "--admin", admin, "--tenant", "A", "--explain"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "split" in r.stdout and "created_at" in r.stdout and "why:" in r.stdout, r.stdout
    r = subprocess.run([MOSAIC_BIN, "advise", "--admin", admin, "--json"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {a["tenant"] for a in json.loads(r.stdout)} >= {"A", "B"}
    status, reply = m.admin_get_json("/api/v1/advice")
    assert status == 400 and "tenant" in reply["error"], reply
    status, reply = m.admin_get_json("/api/v1/advice?tenant=A&window=-3")
    assert status == 400 and "window" in reply["error"], reply


def test_patterns_survive_kill_9(monitored):
    m = monitored
    before = {t: table(patterns(m, f"?tenant={t}"), "orders") for t in ("A", "B", "C")}
    time.sleep(3)  # at least one checkpoint (every 1 s) after the last statement
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(10)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(m.postmaster_pid(i) for i in (1, 2)):
        time.sleep(0.2)  # the managed postmasters die with Mosaic
    m.start()
    for t, old in before.items():
        new = table(patterns(m, f"?tenant={t}"), "orders")
        assert (new["statements"], new["writes"], new["rows"]) == (old["statements"], old["writes"], old["rows"]), t
        assert new["columns"][0]["column"] == old["columns"][0]["column"]
    assert "restored the checkpointed windows" in m.log_text()
