"""The rebalancer (issue 9) on real nodes: a tenant's shard grows over its profile's row limit, and
the rebalancer splits it by itself -- but only inside the profile's migration window, not in dry
run, not while paused, then settles (no migration in the rounds after). Rounds are run on request
(interval_s = 0) so the test decides when; the clock is the real one, and the migration window is
set around it through PUT /api/v1/profiles."""

import datetime
import io
import json
import subprocess
import time
import urllib.error
import urllib.request

from harness import MOSAIC_BIN, Mosaic, serving

CONFIG = """
[rebalancer]
interval_s = 0
window_s = 600
cooldown_s = 2
failure_backoff_s = 5
min_statements = 20
imbalance_threshold = 10
[migration]
retention_s = 1
shadow_min_s = 1
"""
ROWS = 12000  # tenant 1's orders
LIMIT = 5000  # rows per shard its profile allows


def put_profiles(m, body):
    return m.admin_post("/api/v1/profiles", body, method="PUT")


def profiles(window=None, dry=False, p99=None):
    capped = {"degree": "coarse", "max_shard_rows": LIMIT}
    if window:
        capped["migration_windows"] = [window]
    fast = {"max_p99_ms": p99} if p99 else {}
    return {"profiles": {"capped": capped, "fast": fast}, "tenant_profiles": {"1": "capped", "2": "fast"}}


def window_around(now, inside):
    """A one-hour window (UTC) that holds `now` or starts 3 hours later."""
    start = now - datetime.timedelta(minutes=30) if inside else now + datetime.timedelta(hours=3)
    end = start + datetime.timedelta(hours=1)
    return f"{start:%H:%M}-{end:%H:%M} UTC"


def run_round(m):
    status, body = m.admin_post("/api/v1/rebalancer/run", {})
    assert status == 200, body
    return body


def traffic(m, n=300):
    """Point reads of tenant 1's orders by order_id and a few of tenant 2's, so that the monitor's
    window holds what the advisor plans from."""
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    for i in range(n):
        cur.execute("SELECT amount FROM orders WHERE tenant_id = 1 AND order_id = %s", (1 + (i * 37) % ROWS,))
        cur.fetchall()
        if i % 10 == 0:
            cur.execute("SELECT amount FROM orders WHERE tenant_id = 2 AND order_id = %s", (1 + i % 100,))
            cur.fetchall()
    c.close()


def wait_done(m, mid, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = m.admin_get_json(f"/api/v1/migrations/{mid}")
        assert status == 200, body
        if body["phase"] in ("done", "rolled_back", "failed"):
            return body
        time.sleep(0.3)
    raise AssertionError(f"migration {mid} did not finish: {body}\n{m.log_tail()}")


def load(m):
    """tenant 1: ROWS orders, tenant 2: 100 (COPY through Mosaic, routed per row)."""
    m.psql("CREATE TABLE orders (tenant_id int NOT NULL, order_id bigint NOT NULL, amount numeric(10,2), "
           "PRIMARY KEY (tenant_id, order_id))")
    rows = [f"1\t{g}\t{g % 1000}" for g in range(1, ROWS + 1)] + [f"2\t{g}\t{g % 7}" for g in range(1, 101)]
    c = m.connect()
    c.autocommit = True
    c.cursor().copy_expert("COPY orders FROM STDIN", io.StringIO("\n".join(rows) + "\n"))
    c.close()
    assert snapshot(m)[0][1] == ROWS


def snapshot(m):
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute("SELECT tenant_id, count(*), sum(amount), sum(order_id) FROM orders GROUP BY 1 ORDER BY 1")
    rows = cur.fetchall()
    c.close()
    return rows


def test_rebalancer_splits_an_oversized_shard_inside_its_window_and_settles():
    with serving(Mosaic(nodes=3, name="rebalancer", config_text=CONFIG)) as m:
        load(m)
        before = snapshot(m)
        now = datetime.datetime.now(datetime.timezone.utc)

        # Outside the window: the split waits, and says why (one event, repeated per round).
        status, body = put_profiles(m, profiles(window=window_around(now, inside=False)))
        assert status == 200, body
        traffic(m)
        first = run_round(m)
        deferred = [e for e in first["events"] if e["tenant"] == "1"]
        assert [e["decision"] for e in deferred] == ["deferred"], first
        assert deferred[0]["cause"] == "window", deferred
        assert deferred[0]["trigger"] == "size", deferred
        assert deferred[0]["action"] == "split", deferred
        assert "next opens" in deferred[0]["reason"], deferred
        assert deferred[0]["numbers"]["shard_rows"] >= LIMIT, deferred
        second = run_round(m)
        again = [e for e in second["events"] if e["tenant"] == "1"]
        assert again[0]["id"] == deferred[0]["id"] and again[0]["repeats"] == 2, again
        status, mig = m.admin_get_json("/api/v1/migrations")
        assert mig["migrations"] == [], mig

        # Paused: no round; dry run is covered by the unit tests.
        status, body = m.admin_post("/api/v1/rebalancer/pause", {})
        assert status == 200 and body["paused"] is True, body
        status, body = m.admin_post("/api/v1/rebalancer/run", {})
        assert status == 409, body
        status, body = m.admin_post("/api/v1/rebalancer/resume", {})
        assert status == 200 and body["paused"] is False, body

        # Inside the window: the rebalancer starts the split itself.
        status, body = put_profiles(m, profiles(window=window_around(now, inside=True)))
        assert status == 200, body
        acted = [e for e in run_round(m)["events"] if e["decision"] == "acted"]
        assert len(acted) == 1, acted
        assert acted[0]["tenant"] == "1" and acted[0]["action"] == "split", acted
        assert acted[0]["tables"] == ["public.orders"], acted
        mid = acted[0]["migration_id"]
        status, listed = m.admin_get_json("/api/v1/migrations")
        assert [(x["id"], x["origin"]) for x in listed["migrations"]] == [(mid, "rebalancer")], listed
        # While it runs, the group is left alone.
        during = [e for e in run_round(m)["events"] if e["tenant"] == "1"]
        assert all(e["decision"] != "acted" for e in during), during
        body = wait_done(m, mid)
        assert body["phase"] == "done", body
        assert snapshot(m) == before

        status, placements = m.admin_get_json("/api/v1/placements?table=orders&tenant=1")
        assert status == 200, placements
        ranges = placements["placements"][0]["ranges"]
        assert len(ranges) >= 3, ranges  # 12000 rows, at most 5000 a shard
        assert len({r["node"] for r in ranges}) >= 2, ranges

        # Settled: every shard under the limit, nothing fires again.
        traffic(m, 100)
        time.sleep(2.5)  # past the cool-down
        for _ in range(5):
            events = run_round(m)["events"]
            assert not [e for e in events if e["decision"] == "acted"], events
        status, listed = m.admin_get_json("/api/v1/migrations")
        assert len(listed["migrations"]) == 1, listed

        # The CLI shows the same decisions.
        out = subprocess.run([MOSAIC_BIN, "events", "--admin", f"{m.host}:{m.admin_port}"], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert "deferred(window) tenant 1 [public.orders]" in out.stdout, out.stdout
        assert f"started migration {mid}" in out.stdout, out.stdout
        out = subprocess.run([MOSAIC_BIN, "rebalancer", "status", "--admin", f"{m.host}:{m.admin_port}"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "paused: false" in out.stdout, out.stdout + out.stderr


def test_rebalancer_latency_trigger_and_event_api_validation():
    with serving(Mosaic(nodes=2, name="rebalancer-p99", config_text=CONFIG)) as m:
        load(m)
        status, body = put_profiles(m, profiles(p99=0.0001))  # every statement is slower than that
        assert status == 200, body
        c = m.connect()
        c.autocommit = True
        cur = c.cursor()
        for i in range(100):
            cur.execute("SELECT amount FROM orders WHERE tenant_id = 2 AND order_id = %s", (1 + i % 100,))
            cur.fetchall()
        c.close()
        events = [e for e in run_round(m)["events"] if e["tenant"] == "2"]
        assert events, events
        assert events[0]["trigger"] == "latency", events
        assert events[0]["numbers"]["max_p99_ms"] == 0.0001, events
        assert "p99" in events[0]["reason"], events
        status, got = m.admin_get_json("/api/v1/events?since=0&limit=1")
        assert status == 200 and len(got["events"]) == 1, got
        status, got = m.admin_get_json(f"/api/v1/events?since={got['last_id']}")
        assert status == 200, got
        for bad in ("since=x", "since=-1", "limit=0", "limit=5000"):
            status, got = m.admin_get_json(f"/api/v1/events?{bad}")
            assert status == 400, (bad, got)


def post_without_body(m, path):
    """POST with no body at all (no Content-Length, as `curl -X POST URL` without -d)."""
    req = urllib.request.Request(f"http://{m.host}:{m.admin_port}{path}", method="POST")
    assert req.data is None
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


WHOLE_CONFIG = """
[rebalancer]
interval_s = 0
window_s = 600
cooldown_s = 600
min_statements = 20
imbalance_threshold = 1.25
[migration]
retention_s = 1
shadow_min_s = 1
"""
EVENTS = 3000  # rows per busy tenant


def events_snapshot(m, tenants):
    """Per tenant (one node each): rows, sum of ids and an md5 of the payloads."""
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    rows = []
    for t in tenants:
        cur.execute("SELECT count(*), sum(event_id), md5(string_agg(payload, ',' ORDER BY event_id)) "
                    "FROM events WHERE tenant_id = %s", (t,))
        rows.append(cur.fetchone())
    c.close()
    return rows


def home_node(m, tenant):
    status, body = m.admin_get_json(f"/api/v1/placements?table=events&tenant={tenant}")
    assert status == 200, body
    return body["placements"][0]["ranges"][0]["node"]


def test_rebalancer_moves_a_tenant_whose_group_has_no_range_column_whole():
    """Found in the demo: an events table filtered by nothing but the tenant has no valid range
    column; the rebalancer's move of it had no column, and the migration service refused it with
    400 "column: required" every round. Two busy tenants on one of two nodes: one of them moves
    whole (laid out on its tenant column) to the other node, to done, its rows intact. Also: the
    rebalancer's POST endpoints take a request without a body."""
    with serving(Mosaic(nodes=2, name="rebalancer-whole", config_text=WHOLE_CONFIG)) as m:
        m.psql("CREATE TABLE events (event_id bigint NOT NULL, tenant_id int NOT NULL, payload text, "
               "PRIMARY KEY (tenant_id, event_id))")
        by_node = {}
        for t in range(1, 40):
            by_node.setdefault(home_node(m, t), []).append(t)
        busy = next(ts[:2] for ts in by_node.values() if len(ts) >= 2)
        rows = [f"{g}\t{t}\tevent {t}-{g}" for t in busy for g in range(1, EVENTS + 1)]
        c = m.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.copy_expert("COPY events FROM STDIN", io.StringIO("\n".join(rows) + "\n"))
        for i in range(60):
            for t in busy:
                cur.execute("SELECT count(*), max(event_id) FROM events WHERE tenant_id = %s", (t,))
                cur.fetchall()
        c.close()
        before = events_snapshot(m, busy)
        assert [r[0] for r in before] == [EVENTS, EVENTS], before

        for path in ("/api/v1/rebalancer/pause", "/api/v1/rebalancer/resume"):
            status, body = post_without_body(m, path)
            assert status == 200, (path, body)
        status, round_ = post_without_body(m, "/api/v1/rebalancer/run")
        assert status == 200, round_
        refused = [e for e in round_["events"] if e["decision"] == "rejected" and e["cause"] == "error"]
        assert refused == [], refused
        acted = [e for e in round_["events"] if e["decision"] == "acted"]
        assert len(acted) == 1, round_["events"]
        assert acted[0]["action"] == "move" and acted[0]["tables"] == ["public.events"], acted
        assert "laid out on tenant_id, its tenant column" in acted[0]["reason"], acted
        moved = int(acted[0]["tenant"])
        assert moved in busy, acted
        # The first round read both tenants' statistics; the next one plans from the cache.
        status, st = m.admin_get_json("/api/v1/rebalancer")
        assert st["statistics"] == {"read": 2, "cached": 0, "oldest_age_s": 0}, st
        assert st["last_round_s"] > 0, st
        run_round(m)
        status, st = m.admin_get_json("/api/v1/rebalancer")
        assert st["statistics"]["read"] == 0 and st["statistics"]["cached"] == 2, st
        source = home_node(m, moved)
        body = wait_done(m, acted[0]["migration_id"])
        assert body["phase"] == "done", body
        assert body["column"] == "tenant_id", body

        status, placements = m.admin_get_json(f"/api/v1/placements?table=events&tenant={moved}")
        assert status == 200, placements
        layout = placements["placements"][0]
        assert layout["kind"] == "layout" and layout["column"] == "tenant_id", layout
        assert [(r["lower"], r["upper"]) for r in layout["ranges"]] == [(None, None)], layout
        target = layout["ranges"][0]["node"]
        assert target != source, layout
        assert events_snapshot(m, busy) == before
        # The rows live on the target only (the source's copy is cleaned up once done).
        for n in m.nodes():
            nc = m.connect_node(n)
            nc.autocommit = True
            ncur = nc.cursor()
            ncur.execute("SELECT count(*) FROM events WHERE tenant_id = %s", (moved,))
            assert ncur.fetchone()[0] == (EVENTS if n["id"] == target else 0), (n["id"], target)
            nc.close()
        # Even now: nothing more to do, and nothing refused. The moved tenant's statistics are read
        # again (its placement changed), not the other's (unless a minute passed).
        events = run_round(m)["events"]
        assert not [e for e in events if e["decision"] in ("acted", "rejected")], events
        status, st = m.admin_get_json("/api/v1/rebalancer")
        assert st["statistics"]["read"] >= 1 and st["statistics"]["read"] + st["statistics"]["cached"] == 2, st
