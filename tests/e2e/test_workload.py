"""`mosaic workload`: --init loads the SaaS sample schema and a short run drives skewed traffic,
through Mosaic (3 managed nodes) and directly against one node (a plain PostgreSQL); no errors,
and the rows counted afterwards are the rows loaded plus the rows the report says it inserted."""
import json
import subprocess

import pytest

import harness

TABLES = ("tenants", "customers", "orders", "order_items", "events")


def workload(*args, timeout=60):
    r = subprocess.run([harness.MOSAIC_BIN, "workload", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def counts(conn):
    with conn.cursor() as cur:
        result = {}
        for table in TABLES:
            cur.execute(f"SELECT count(*) FROM {table}")
            result[table] = cur.fetchone()[0]
    conn.rollback()
    return result


def init_and_run(target, connect):
    """--init, then a 5-second run; returns (counts after init, the report, counts after the run)."""
    workload(*target, "--init", "--tenants", 20, "--scale", 0.1, "--seed", 7)
    conn = connect()
    loaded = counts(conn)
    assert loaded["tenants"] == 20
    assert loaded["orders"] >= 4900 and loaded["order_items"] > loaded["orders"], loaded
    r = workload(*target, "--clients", 4, "--duration", 5, "--seed", 7, "--hot-shift-s", 2,
                 "--report-interval", 1, "--json")
    report = json.loads(r.stdout)
    assert report["transactions"] > 0, report
    assert report["errors"] == 0, report["errors_by_sqlstate"]
    assert r.stderr.count("] tps") >= 3, r.stderr  # a line per --report-interval
    assert set(report["kinds"]) >= {"orders_by_filter", "order_point", "insert_order", "update_status"}
    assert report["top_tenants"][0]["tenant"] in (1, 2, 3)  # the whales are the busiest
    after = counts(conn)
    inserted = report["inserted"]
    assert after["orders"] == loaded["orders"] + inserted["orders"]
    assert after["order_items"] == loaded["order_items"] + inserted["order_items"]
    assert after["events"] == loaded["events"] + inserted["events"]
    assert after["customers"] == loaded["customers"] and after["tenants"] == 20
    conn.close()
    return loaded, report, after


@pytest.mark.timeout(90)
def test_workload_through_mosaic_and_directly(mosaic_factory):
    m = mosaic_factory(nodes=3)
    target = ("--host", m.host, "--port", m.port, "--user", "mosaic", "--dbname", "mosaic")
    loaded, report, after = init_and_run(target, m.connect)
    # The rows spread over the nodes add up to what Mosaic answers.
    node_totals = {t: 0 for t in TABLES}
    for node in m.nodes():
        for table, n in counts(m.connect_node(node)).items():
            node_totals[table] += n
    assert node_totals == after
    # Again --init: the tables exist; --drop recreates them with the same rows.
    r = subprocess.run([harness.MOSAIC_BIN, "workload", *map(str, target), "--init"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "--drop" in r.stderr, r.stdout + r.stderr
    workload(*target, "--init", "--drop", "--tenants", 20, "--scale", 0.1, "--seed", 7)
    assert counts(m.connect()) == loaded

    # One managed node directly: a plain PostgreSQL, in a database of its own.
    node = m.nodes()[0]
    admin = m.connect_node(node)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE workload_direct")
    target = ("--host", node["host"], "--port", node["port"], "--user", node["user"], "--dbname", "workload_direct")
    direct_loaded, direct_report, _ = init_and_run(target, lambda: m.connect_node(node, dbname="workload_direct"))
    assert direct_loaded == loaded  # same seed, same data
    print(f"through Mosaic: {report['tps']} tps, p99 {report['latency_ms']['p99']} ms; "
          f"direct: {direct_report['tps']} tps, p99 {direct_report['latency_ms']['p99']} ms")
