"""The pgbench scenario of issue 3 (distribution and routing), through Mosaic over 3 nodes:

  pgbench -i -I dt                      create the tables (no data)
  POST /api/v1/layout                   pgbench_accounts + pgbench_history as one table group
                                        (single-tenant: tenant null) split on aid:
                                        aid < 100001 -> node 1, < 200001 -> node 2, rest -> node 3
  pgbench -i -I gvp -s 3                client-side data generation (COPY), vacuum, primary keys
  pgbench -S -T 5 -c 8                  0 failed transactions
  select count(*), sum(abalance)        through Mosaic == the sums over the three nodes
  each node holds only its aid range; GET /api/v1/placements shows the three ranges
"""

import json
import re
import subprocess
import urllib.error
import urllib.parse

import psycopg2
import psycopg2.errors
import pytest

import sqllogic
from harness import Mosaic, serving

SCALE = 3
ACCOUNTS = 100000 * SCALE
RANGES = [(None, 100001, 1), (100001, 200001, 2), (200001, None, 3)]  # [lower, upper) -> node
LAYOUT = {
    "tables": ["pgbench_accounts", "pgbench_history"], "tenant": None, "column": "aid",
    "ranges": [{"upper": "100001", "node": 1}, {"upper": "200001", "node": 2}, {"node": 3}],
}


def pgbench(m, *args, timeout=300):
    cmd = ["pgbench", "-h", m.host, "-p", str(m.port), "-U", "mosaic", *args, "mosaic"]
    return subprocess.run(cmd, env=m.client_env(), capture_output=True, text=True,
                          timeout=timeout)


def output(r):
    return f"exit code {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


@pytest.fixture(scope="module")
def dist():
    """One Mosaic with 3 nodes, taken through the initialisation steps; each step's outcome is
    recorded so the tests can report exactly which one failed."""
    with serving(Mosaic(nodes=3, name="distribution")) as m:
        steps = {}
        r = pgbench(m, "-i", "-I", "dt")
        steps["pgbench -i -I dt"] = (r.returncode == 0, output(r))
        if r.returncode == 0:
            status, body = sqllogic.mosaic_post_layout(m)(json.dumps(LAYOUT))
            steps["layout"] = (200 <= status < 300, f"POST /api/v1/layout {LAYOUT}: {status} {body}")
            if 200 <= status < 300:
                r = pgbench(m, "-i", "-I", "gvp", "-s", str(SCALE))
                steps["pgbench -i -I gvp"] = (r.returncode == 0 and "done in" in r.stderr,
                                              output(r))
        m.init_steps = steps
        yield m


def require_init(m):
    for name in ("pgbench -i -I dt", "layout", "pgbench -i -I gvp"):
        assert name in m.init_steps, f"step {name!r} did not run (an earlier step failed)"
        ok, text = m.init_steps[name]
        assert ok, f"step {name!r} failed:\n{text}"


def query_one(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()


def node_conns(m):
    nodes = sorted(m.nodes(), key=lambda n: n["id"])
    assert [n["id"] for n in nodes] == [1, 2, 3], nodes
    return {n["id"]: m.connect_node(n) for n in nodes}


def check_run(r, clients):
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"pgbench exited {r.returncode}:\n{out}"
    assert f"number of clients: {clients}" in out, out
    m = re.search(r"number of failed transactions: (\d+)", out)
    assert m and int(m.group(1)) == 0, out
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    assert m and int(m.group(1)) > 0, out
    m = re.search(r"^tps = ([0-9.]+)", out, re.M)
    assert m and float(m.group(1)) > 0, out


def test_init_with_layout(dist):
    require_init(dist)
    c = dist.connect()
    try:
        assert query_one(c, "SELECT count(*) FROM pgbench_accounts") == (ACCOUNTS,)
        assert query_one(c, "SELECT count(*) FROM pgbench_branches") == (SCALE,)
        assert query_one(c, "SELECT count(*) FROM pgbench_tellers") == (10 * SCALE,)
        assert query_one(c, "SELECT count(*) FROM pgbench_history") == (0,)
    finally:
        c.close()


def test_each_node_holds_its_range_only(dist):
    require_init(dist)
    conns = node_conns(dist)
    try:
        for lower, upper, node in RANGES:
            c = conns[node]
            got = query_one(c, "SELECT count(*), min(aid), max(aid) FROM pgbench_accounts")
            lo = lower or 1
            hi = (upper or ACCOUNTS + 1) - 1
            assert got == (hi - lo + 1, lo, hi), \
                f"node {node}: (count, min aid, max aid) = {got}, want {(hi - lo + 1, lo, hi)}"
            # the table group's other table exists on every node of the layout
            assert query_one(c, "SELECT count(*) FROM pgbench_history") == (0,)
            # `p`: the primary key was created on every node
            assert query_one(c, "SELECT count(*) FROM pg_indexes WHERE indexname = "
                                "'pgbench_accounts_pkey'") == (1,), f"node {node}"
        # rows live once: no node holds another node's range
        total = sum(query_one(c, "SELECT count(*) FROM pgbench_accounts")[0]
                    for c in conns.values())
        assert total == ACCOUNTS
    finally:
        for c in conns.values():
            c.close()


def test_select_only_run(dist):
    require_init(dist)
    check_run(pgbench(dist, "-S", "-T", "5", "-c", "8"), 8)


def test_select_only_prepared_run(dist):
    """Range pruning with parameters from Bind."""
    require_init(dist)
    check_run(pgbench(dist, "-M", "prepared", "-S", "-T", "5", "-c", "8", "-j", "2"), 8)


def test_totals_through_mosaic_equal_node_sums(dist):
    require_init(dist)
    c = dist.connect()
    conns = node_conns(dist)
    c.autocommit = True  # each UPDATE its own (single-node) transaction
    try:
        # make the balances non-trivial first: single-node writes on each node
        with c.cursor() as cur:
            for aid, delta in ((1, 5), (100000, -7), (100001, 11), (150000, 13), (200001, -17),
                               (300000, 19)):
                cur.execute("UPDATE pgbench_accounts SET abalance = abalance + %s WHERE aid = %s",
                            (delta, aid))
                assert cur.rowcount == 1, f"UPDATE of aid {aid} touched {cur.rowcount} rows"
        got = query_one(c, "SELECT count(*), sum(abalance) FROM pgbench_accounts")
        parts = [query_one(n, "SELECT count(*), coalesce(sum(abalance), 0) FROM pgbench_accounts")
                 for n in conns.values()]
        want = (sum(p[0] for p in parts), sum(p[1] for p in parts))
        assert got == want, f"through Mosaic {got}, nodes {parts}"
        assert got == (ACCOUNTS, 5 - 7 + 11 + 13 - 17 + 19)
        # and per range, pruned to one node each
        for lower, upper, node in RANGES:
            cond = " AND ".join(x for x in (f"aid >= {lower}" if lower else "",
                                            f"aid < {upper}" if upper else "") if x)
            through = query_one(c, f"SELECT count(*), sum(abalance) FROM pgbench_accounts "
                                   f"WHERE {cond}")
            direct = query_one(conns[node], "SELECT count(*), sum(abalance) FROM pgbench_accounts")
            assert through == direct, f"range {lower}..{upper}: {through} vs node {node} {direct}"
    finally:
        c.close()
        for n in conns.values():
            n.close()


def _first(d, *keys):
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def _range_rows(data):
    """The ranges of a placements answer, one dict per range: {"shard_map_version": v,
    "placements": [{"tables": [...], "column": c, "ranges": [{"lower", "upper", "node",
    "version"}, ...]}, ...]} (a placement given as one flat range is accepted too)."""
    items = data if isinstance(data, list) else _first(data, "placements")
    assert isinstance(items, list), f"no list of placements in {data}"
    rows = []
    for item in items:
        if isinstance(item.get("ranges"), list):
            for r in item["ranges"]:
                rows.append({**{k: v for k, v in item.items() if k != "ranges"}, **r,
                             "placement_version": item.get("version")})
        else:
            rows.append(item)
    return rows


@pytest.mark.parametrize("table", ["pgbench_accounts", "pgbench_history"])
def test_placements_api_shows_ranges(dist, table):
    require_init(dist)
    path = "/api/v1/placements?" + urllib.parse.urlencode({"table": table})
    try:
        status, body = dist.admin_get(path)
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode(errors="replace")
    assert status == 200, f"GET {path}: {status} {body}"
    ranges = []
    for r in _range_rows(json.loads(body)):
        tables = r.get("tables") or [r.get("table")]
        assert table in tables or f"public.{table}" in tables, f"{r} in\n{body}"
        lower, upper = r.get("lower"), r.get("upper")
        ranges.append((None if lower is None else str(lower),
                       None if upper is None else str(upper), int(_first(r, "node", "node_id"))))
        assert _first(r, "version", "placement_version") is not None, \
            f"a range without a shard-map version: {r}"
    want = [(None if lo is None else str(lo), None if up is None else str(up), node)
            for lo, up, node in RANGES]
    assert sorted(ranges, key=lambda x: x[2]) == want, f"placements of {table}:\n{body}"


def test_a_query_no_node_can_match_is_answered_with_its_columns(dist):
    # A NULL or contradictory key matches no range: Mosaic used to answer from no node at
    # all, a count's row without a RowDescription (psycopg2 and psql: "server sent data
    # without prior row description"; an empty SELECT * had no columns). One node answers it.
    require_init(dist)
    conn = dist.connect()
    conn.autocommit = True
    cur = conn.cursor()
    for sql, params, rows in [
            ("SELECT count(*) FROM pgbench_accounts WHERE aid IS NULL", None, [(0,)]),
            ("SELECT count(*), sum(abalance) FROM pgbench_accounts WHERE aid = 5 AND aid = 250000", None, [(0, None)]),
            ("SELECT aid, abalance FROM pgbench_accounts WHERE aid = %s", (None,), []),
            ("SELECT * FROM pgbench_accounts WHERE aid IN (NULL)", None, [])]:
        cur.execute(sql, params)
        assert cur.fetchall() == rows, sql
        assert cur.description is not None and len(cur.description) >= 1, sql
    cur.execute("SELECT * FROM pgbench_accounts WHERE aid = NULL")
    assert [d.name for d in cur.description] == ["aid", "bid", "abalance", "filler"]
    cur.execute("UPDATE pgbench_accounts SET abalance = 0 WHERE aid IS NULL")
    assert cur.rowcount == 0


def test_writes_that_could_move_rows_are_refused(dist):
    # A plain UPDATE of the range column is refused (it could move a row to another node's
    # range); ON CONFLICT DO UPDATE of it, MERGE and a WITH query that updates were not, and
    # left rows on a node whose range no longer holds them (lost at the next migration of it).
    require_init(dist)
    conn = dist.connect()
    conn.autocommit = True
    cur = conn.cursor()
    for sql, what in [
            ("INSERT INTO pgbench_accounts VALUES (5, 1, 0, 'x') ON CONFLICT (aid) DO UPDATE SET aid = 250005",
             "range column"),
            ("MERGE INTO pgbench_accounts a USING (VALUES (6)) s(x) ON a.aid = s.x "
             "WHEN MATCHED THEN UPDATE SET aid = 250006", "MERGE"),
            ("WITH u AS (UPDATE pgbench_accounts SET aid = 250007 WHERE aid = 7 RETURNING *) SELECT * FROM u",
             "WITH query")]:
        with pytest.raises(psycopg2.errors.FeatureNotSupported, match=what):
            cur.execute(sql)
    for aid in (5, 6, 7):
        assert query_one(conn, f"SELECT count(*) FROM pgbench_accounts WHERE aid = {aid}") == (1,)
    # What keeps rows in place still runs: ON CONFLICT DO UPDATE of other columns, a WITH query
    # that changes a table that is not split (on the default node).
    cur.execute("INSERT INTO pgbench_accounts VALUES (5, 1, 0, 'x') ON CONFLICT (aid) "
                "DO UPDATE SET abalance = pgbench_accounts.abalance")
    assert cur.rowcount == 1
    cur.execute("WITH u AS (UPDATE pgbench_branches SET bbalance = bbalance WHERE bid = 1 RETURNING bid) "
                "SELECT count(*) FROM u")
    assert cur.fetchone() == (1,)


def test_column_descriptions_name_the_default_nodes_tables(dist):
    # A RowDescription names each column's table by OID and the column by number; drivers look
    # them up in the catalog (pgjdbc's ResultSetMetaData), which Mosaic reads from the default
    # node. Rows from nodes 2 and 3 carried their own node's OIDs: no table, or another one.
    require_init(dist)
    conns = node_conns(dist)
    want = {}
    with conns[1].cursor() as cur:
        cur.execute("SELECT aid, filler, abalance FROM pgbench_accounts WHERE aid = 1")
        want = [(d.name, d.table_oid, d.table_column) for d in cur.description]
        cur.execute("SELECT 'pgbench_accounts'::regclass::oid")
        accounts_oid = cur.fetchone()[0]
    others = {}
    for node in (2, 3):
        with conns[node].cursor() as cur:
            cur.execute("SELECT 'pgbench_accounts'::regclass::oid")
            others[node] = cur.fetchone()[0]
    for c in conns.values():
        c.close()
    assert want[0][1] == accounts_oid and others[2] != accounts_oid, (want, others)
    conn = dist.connect()
    conn.autocommit = True
    cur = conn.cursor()
    for sql in ["SELECT aid, filler, abalance FROM pgbench_accounts WHERE aid = 150000",
                "SELECT aid, filler, abalance FROM pgbench_accounts WHERE aid = 250000",
                "SELECT aid, filler, abalance FROM pgbench_accounts WHERE aid IN (5, 150005, 250005) ORDER BY aid",
                "SELECT aid, filler, abalance FROM pgbench_accounts WHERE aid > 299990"]:
        cur.execute(sql)
        assert len(cur.fetchall()) >= 1, sql
        got = [(d.name, d.table_oid, d.table_column) for d in cur.description]
        assert got == want, f"{sql}: {got}, the default node's {want} (node 2's table is {others[2]}, node 3's {others[3]})"
    # Computed columns name no table (OID 0, which psycopg2 shows as None), as on PostgreSQL.
    cur.execute("SELECT count(*), max(abalance) FROM pgbench_accounts WHERE aid = 150000")
    assert [(d.table_oid, d.table_column) for d in cur.description] == [(None, None), (None, None)]
    conn.close()
