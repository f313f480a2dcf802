"""pgjdbc (the PostgreSQL JDBC driver) against Mosaic over 3 nodes.

tests/e2e/jdbc/JdbcCheck.java holds the scenarios; it is compiled with javac once per module
(classpath /usr/share/java/postgresql.jar: Debian's libpostgresql-jdbc-java, pgjdbc 42.5) and
run as `java JdbcCheck URL SCENARIO key=value...`, printing one JSON object per step.

Differential: most scenarios run through Mosaic and against plain PostgreSQL (database
jdbc_ref on node 1, which Mosaic does not use, holding every row in one table), and the steps
must match, SQLSTATEs included (error messages, timings and pgjdbc's protocol-message counts
are left out of the comparison). On top of that each test checks exact expected values, and
where rows land on the nodes (tenant -> node map found at module start).

The JVM runs with TimeZone Asia/Kolkata (pgjdbc sends it as a startup parameter, which Mosaic
must restore on every pooled server connection).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from decimal import Decimal

import pytest

from harness import E2E_DIR, Mosaic, serving

JDBC_SRC = os.path.join(E2E_DIR, "jdbc", "JdbcCheck.java")
PG_JAR = "/usr/share/java/postgresql.jar"
JVM_ZONE = "Asia/Kolkata"
REF_DB = "jdbc_ref"
SETUP_HINT = ("the project's bootstrap (scripts/bootstrap.sh) installs default-jdk-headless and "
              "libpostgresql-jdbc-java")
IGNORED_KEYS = ("msg", "elapsed_ms", "wire")


# ------------------------------------------------------------------ fixtures


class Jdbc:
    """Runs JdbcCheck; `error` is set when it could not be compiled (each test then fails)."""

    def __init__(self, classes=None, error=None):
        self.classes = classes
        self.error = error

    def run(self, url, scenario, timeout=90, **opts):
        if self.error:
            pytest.fail(self.error)
        cmd = ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", f"-Duser.timezone={JVM_ZONE}",
               "-Dfile.encoding=UTF-8", "-Dsun.stdout.encoding=UTF-8", "-Dsun.stderr.encoding=UTF-8",
               "-cp", f"{self.classes}{os.pathsep}{PG_JAR}", "JdbcCheck", url, scenario]
        cmd += [f"{k}={v}" for k, v in opts.items()]
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"{' '.join(cmd)} did not finish within {timeout}s; stdout so far:\n"
                        f"{(e.stdout or b'').decode(errors='replace')}")
        out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
        assert r.returncode == 0, (f"{' '.join(cmd)} exited {r.returncode}\nstdout:\n{out}\n"
                                   f"stderr:\n{err}")
        steps = []
        for line in out.splitlines():
            try:
                steps.append(json.loads(line))
            except ValueError:
                pytest.fail(f"{' '.join(cmd)}: not a JSON line: {line!r}\nstderr:\n{err}")
        return steps


@pytest.fixture(scope="module")
def jdbc():
    """JdbcCheck compiled into a temporary directory (removed at the end of the module)."""
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    if missing:
        yield Jdbc(error=f"{' and '.join(missing)} not found on PATH: {SETUP_HINT}")
        return
    if not os.path.isfile(PG_JAR):
        yield Jdbc(error=f"{PG_JAR} (pgjdbc) not found: {SETUP_HINT}")
        return
    classes = tempfile.mkdtemp(prefix="mosaic-e2e-jdbc-classes-")
    try:
        r = subprocess.run(["javac", "-encoding", "UTF-8", "-d", classes, "-cp", PG_JAR, JDBC_SRC],
                           capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            yield Jdbc(error=f"javac {JDBC_SRC} failed (exit {r.returncode}):\n{r.stdout}{r.stderr}")
        else:
            yield Jdbc(classes=classes)
    finally:
        shutil.rmtree(classes, ignore_errors=True)


def jdbc_url(host, port, dbname):
    return (f"jdbc:postgresql://{host}:{port}/{dbname}?user=mosaic&connectTimeout=10"
            f"&socketTimeout=60&ApplicationName=mosaic-e2e-jdbc")


@pytest.fixture(scope="module")
def cluster():
    """A Mosaic of its own with 3 nodes (these tests make distributed tables, which changes how
    Mosaic treats relations it does not know for every other client of an instance), the
    reference database on node 1, and three tenants homed on nodes 1, 2 and 3."""
    with serving(Mosaic(nodes=3, name="jdbc")) as m:
        nodes = sorted(m.nodes(), key=lambda n: n["id"])
        assert [n["id"] for n in nodes] == [1, 2, 3], nodes
        admin = m.connect_node(nodes[0])
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {REF_DB}")
        admin.close()
        # which node each tenant lives on: probe rows for tenants 1..40 through Mosaic
        c = m.connect()
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("CREATE TABLE jdbc_probe (tenant_id int PRIMARY KEY)")
            cur.execute("INSERT INTO jdbc_probe VALUES " + ",".join(f"({t})" for t in range(1, 41)))
        c.close()
        home = {}
        for n in nodes:
            nc = m.connect_node(n)
            with nc.cursor() as cur:
                cur.execute("SELECT tenant_id FROM jdbc_probe")
                for (t,) in cur.fetchall():
                    home[t] = n["id"]
            nc.close()
        assert sorted(home) == list(range(1, 41)), f"probe tenants on the nodes: {home}"
        m.home = home
        m.tenants = []
        for node_id in (1, 2, 3):
            on_node = [t for t in range(1, 41) if home[t] == node_id]
            assert on_node, f"none of tenants 1..40 is homed on node {node_id}: {home}"
            m.tenants.append(on_node[0])
        m.tenant_arg = ",".join(map(str, m.tenants))
        m.url = jdbc_url(m.host, m.port, "mosaic")
        m.ref_url = jdbc_url(nodes[0]["host"], nodes[0]["port"], REF_DB)
        m.node_list = nodes
        yield m


# ------------------------------------------------------------------ helpers


def strip(value):
    """`value` without the keys that legitimately differ between two runs."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in IGNORED_KEYS}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def short(value, limit=1500):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def step_key(step):
    return (step.get("step"), step.get("iter"), step.get("round"), step.get("thread"))


def differences(got, want):
    """The steps whose outcome differs between Mosaic (`got`) and PostgreSQL (`want`)."""
    g = {step_key(s): strip(s) for s in got}
    w = {step_key(s): strip(s) for s in want}
    out = []
    for key in sorted(set(g) | set(w), key=lambda k: [str(x) for x in k]):
        if g.get(key) != w.get(key):
            out.append((key, g.get(key), w.get(key)))
    return out


def assert_same(what, got, want, only=None, where=""):
    """Mosaic's steps equal PostgreSQL's (for the step names in `only`, if given)."""
    if only is not None:
        got = [s for s in got if s["step"] in only]
        want = [s for s in want if s["step"] in only]
    diff = differences(got, want)
    lines = [f"{what}: {len(diff)} step(s) differ between Mosaic and PostgreSQL directly:"]
    for key, g, w in diff[:8]:
        lines.append(f"- step {key[0]!r}" + "".join(f" {n}={v}" for n, v in
                                                     zip(("iter", "round", "thread"), key[1:]) if v is not None))
        lines.append(f"    through Mosaic: {short(g)}")
        lines.append(f"    PostgreSQL:     {short(w)}")
    assert not diff, "\n".join(lines) + where


def steps_named(steps, name):
    return [s for s in steps if s["step"] == name]


def one(steps, name):
    found = steps_named(steps, name)
    assert len(found) == 1, f"expected one step {name!r}, got {short(found)}"
    return found[0]


def node_rows(m, sql):
    """{node id: rows of `sql` run on that node directly}."""
    out = {}
    for n in m.node_list:
        c = m.connect_node(n)
        try:
            with c.cursor() as cur:
                cur.execute(sql)
                out[n["id"]] = cur.fetchall()
        finally:
            c.close()
    return out


def prepared_xacts(m):
    rows = node_rows(m, "SELECT gid FROM pg_prepared_xacts")
    return {node: gids for node, gids in rows.items() if gids}


def metric(m, name):
    found = re.search(rf"^{re.escape(name)} (\S+)$", m.metrics(), re.M)
    return float(found.group(1)) if found else 0.0


def repro(request, scenario, **opts):
    """How to rerun a scenario: the test, or JdbcCheck by hand against a running Mosaic."""
    args = " ".join(f"{k}={v}" for k, v in opts.items())
    return (f"\nreproduce: bash tests/e2e/run.sh tests/e2e/test_jdbc.py -k {request.node.name}"
            f"\n  or, against a running Mosaic: javac -d /tmp/jdbc -cp {PG_JAR} tests/e2e/jdbc/JdbcCheck.java"
            f" && java -Duser.timezone={JVM_ZONE} -cp /tmp/jdbc:{PG_JAR} JdbcCheck "
            f"'jdbc:postgresql://127.0.0.1:6432/mosaic?user=mosaic' {scenario} {args}")


def run_both(jdbc, m, scenario, table, **opts):
    got = jdbc.run(m.url, scenario, table=table, **opts)
    want = jdbc.run(m.ref_url, scenario, table=table, **opts)
    return got, want


def errors_in(steps):
    """Steps (or parts of them) that carry an SQL error."""
    found = []

    def walk(value, path):
        if isinstance(value, dict):
            if "state" in value and "msg" in value:
                found.append((path, value["state"], value["msg"]))
                return
            for k, v in value.items():
                walk(v, path + [k])
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, path + [i])

    for s in steps:
        walk(s, [s["step"]])
    return found


# ------------------------------------------------------------------ 1. parameter types


def test_prepared_statement_parameter_types(request, jdbc, cluster, table_name):
    """PreparedStatements run 12 times (pgjdbc switches to a named server-side statement at the
    5th, and to binary results once described) with int, bigint, text, numeric, timestamp,
    timestamptz, boolean, bytea, uuid and NULL parameters: echoed by a SELECT without tables,
    INSERTed into a distributed table for tenants on three nodes, read back by key."""
    m = cluster
    got, want = run_both(jdbc, m, "types", table_name, tenants=m.tenant_arg)
    where = repro(request, 'types', table='jdbc_repro', tenants=m.tenant_arg)
    errs = errors_in(got)
    assert not errs, f"SQL errors through Mosaic: {errs[:5]}{where}"
    for phase in ("echo", "insert", "select"):
        assert len(steps_named(got, phase)) == 12, f"{phase}: {short(steps_named(got, phase))}"
    bad = [(s["step"], s["iter"], s["mismatches"]) for s in got if s.get("mismatches")]
    assert not bad, f"values read back differ from those bound (through Mosaic): {bad}{where}"
    missing = [(s["step"], s["iter"]) for s in got if s["step"] in ("echo", "select") and s["row"] is None]
    assert not missing, f"no row returned through Mosaic: {missing}{where}"
    for phase in ("echo", "insert", "select"):
        wire = one(got, f"{phase}_wire")["wire"]
        assert wire["parse_named"] >= 1 and wire["bind_named"] >= 6, \
            f"{phase}: pgjdbc did not switch to a named server-side statement: {wire}"
    assert_same("types", got, want, where=where)
    # each row is on its tenant's home node
    per_node = node_rows(m, f"SELECT tenant_id, count(*) FROM {table_name} GROUP BY tenant_id")
    expect = {node: [(t, 4)] for node, t in zip((1, 2, 3), m.tenants)}
    assert {k: sorted(v) for k, v in per_node.items()} == expect, \
        f"rows per node (node: [(tenant, rows)]): {per_node}, want {expect}"


def test_prepared_statements_over_several_nodes(request, jdbc, cluster, table_name):
    """Prepared multi-node SELECTs run 10 times each: plain concatenation, ORDER BY, GROUP BY with
    aggregates, avg and HAVING, and a global aggregate. From the 6th execution pgjdbc names the
    statement and asks binary results for the columns it reads in binary (int4, int8, numeric,
    timestamptz; text stays text: mixed formats in one Bind), which Mosaic merges (decoding the
    nodes' binary values, sending what it computes in binary), or, for a subquery Mosaic runs
    first, converts from the text it read: every execution equals PostgreSQL's, in the same
    formats, and with binaryTransfer=false (text results) too."""
    m = cluster
    got, want = run_both(jdbc, m, "prepared_multi_node", table_name, tenants=m.tenant_arg)
    where = repro(request, 'prepared_multi_node', table='jdbc_repro', tenants=m.tenant_arg)
    assert one(got, "load")["count"] == 12, short(one(got, "load"))
    queries = ("concat", "order_by", "group_by", "aggregate", "group_by_avg", "subquery")
    steps = [f"{mode}/{q}" for mode in ("default", "text") for q in queries]
    errs = errors_in([s for s in got if s["step"] in steps])
    assert not errs, f"errors through Mosaic: {errs[:5]}{where}"
    for name in steps:
        assert len(steps_named(got, name)) == 10, f"{name}: {short(steps_named(got, name))}"
    assert_same("prepared statements over several nodes", got, want, only=steps, where=where)
    # the merged queries did get binary results from the 6th execution on (as from PostgreSQL)
    for q in ("order_by", "group_by", "aggregate", "group_by_avg", "subquery"):
        for s in steps_named(got, f"default/{q}"):
            assert (1 in s["formats"]) == (s["iter"] >= 5), \
                f"default/{q} execution {s['iter'] + 1}: result formats {s['formats']}{where}"
        assert all(set(s["formats"]) == {0} for s in steps_named(got, f"text/{q}"))
    # the last (binary) execution: one group per tenant, 4 rows each, avg(id) 2.5
    avg = one_iter(got, "default/group_by_avg", 9)["rows"]
    assert [r[:2] for r in avg] == [[t, 4] for t in sorted(m.tenants, reverse=True)], short(avg)
    assert all(r[3] == "BigDecimal:2.5000000000000000" and r[6] == "String:4" for r in avg), short(avg)
    # a subquery Mosaic runs first (its rows read in text, then converted): the last row of each
    # tenant, every column in binary from the 6th execution (int4, int8, timestamptz, numeric)
    sub = one_iter(got, "default/subquery", 9)
    assert [r[:2] for r in sub["rows"]] == [[t, 4] for t in sorted(m.tenants)], short(sub)
    assert sub["formats"] == [1, 1, 1, 1, 1], short(sub)
    # count(*)::text comes in text, the other columns in binary: mixed formats in one Bind
    assert one_iter(got, "default/group_by_avg", 9)["formats"] == [1, 1, 1, 1, 1, 1, 0], \
        short(one_iter(got, "default/group_by_avg", 9))


def one_iter(steps, name, it):
    found = [s for s in steps if s["step"] == name and s.get("iter") == it]
    assert len(found) == 1, short(found)
    return found[0]


# ------------------------------------------------------------------ 2. batches

BATCH_TENANTS = 30


def batch_rows(base, count):
    return [(i % BATCH_TENANTS + 1, base + i) for i in range(count)]


def per_tenant(rows):
    """[(tenant, count, sum(amount), sum(id), min(id), max(id))] as JdbcCheck renders them."""
    out = []
    for t in sorted({r[0] for r in rows}):
        ids = [i for tt, i in rows if tt == t]
        amount = sum(Decimal(i * 7 + 3) / 100 for i in ids)
        out.append([t, len(ids), f"BigDecimal:{amount:.2f}", sum(ids), min(ids), max(ids)])
    return out


def node_totals(m, table):
    """{tenant: (count, sum(amount), sum(id))} over the nodes directly, and tenants by node."""
    rows = node_rows(m, f"SELECT tenant_id, count(*), sum(amount), sum(id) FROM {table} GROUP BY tenant_id")
    totals, where = {}, {}
    for node, rs in rows.items():
        for t, n, amount, ids in rs:
            assert t not in totals, f"tenant {t} has rows on node {where[t]} and on node {node}"
            totals[t] = (n, amount, ids)
            where[t] = node
    return totals, where


def test_batch_inserts(request, jdbc, cluster, table_name):
    """addBatch/executeBatch of 150 rows for 30 tenants (over the three nodes), without and with
    reWriteBatchedInserts=true, in autocommit mode and in a transaction: update counts as
    PostgreSQL's, and per tenant the counts and sums through Mosaic equal what the nodes hold
    and what one PostgreSQL holds."""
    m = cluster
    got, want = run_both(jdbc, m, "batch", table_name, phase="ok", rows=150, tenant_count=BATCH_TENANTS)
    where = repro(request, 'batch', table='jdbc_repro', phase='ok', rows=150, tenant_count=30)
    problems = []
    for name, counts, commit in (("plain_autocommit", [1] * 150, "autocommit"),
                                 ("rewrite_tx", [-2] * 150, "ok"),  # -2: SUCCESS_NO_INFO
                                 ("plain_tx", [1] * 150, "ok"),
                                 ("rewrite_autocommit", [-2] * 150, "autocommit")):
        s = one(got, name)
        if s.get("counts") != counts or s.get("commit") != commit:
            problems.append(f"batch {name}: through Mosaic {short(s, 400)}, want counts "
                            f"{short(counts, 60)} and commit {commit!r}")
    rows = sum((batch_rows(base, 150) for base in (0, 1000, 2000, 3000)), [])
    expect = per_tenant(rows)
    if one(got, "per_tenant")["rows"] != expect:
        problems.append(f"per tenant through Mosaic: {short(one(got, 'per_tenant')['rows'], 3000)}\n"
                        f"want {short(expect, 3000)}")
    totals, homes = node_totals(m, table_name)
    from_nodes = [[t, n, f"BigDecimal:{a}", s] for t, (n, a, s) in sorted(totals.items())]
    if from_nodes != [r[:4] for r in expect]:
        problems.append(f"per tenant on the nodes directly: {short(from_nodes, 3000)}\n"
                        f"want {short(expect, 3000)}")
    if len(set(homes.values())) != 3:
        problems.append(f"the 30 tenants' rows are not on all three nodes: {homes}")
    if any(homes[t] != m.home[t] for t in homes):
        problems.append(f"tenant -> node differs from the probe table's: {homes} vs {m.home}")
    assert not problems, "\n".join(problems) + where
    assert_same("batch inserts", got, want, where=where)


def test_update_counts_of_writes(request, jdbc, cluster, table_name):
    """executeUpdate's count of INSERT / UPDATE / DELETE on one node and over several nodes,
    through Statement.executeUpdate, Statement.execute and PreparedStatement (also named, after
    its 5th run), RETURNING rows, and in a transaction: what JPA/Hibernate check after each write
    (optimistic locking fails on a count of 0)."""
    m = cluster
    got, want = run_both(jdbc, m, "dml_counts", table_name, tenants=m.tenant_arg)
    where = repro(request, 'dml_counts', table='jdbc_repro', tenants=m.tenant_arg)
    assert_same("update counts", got, want, where=where)
    a, b, c = m.tenants
    assert one(got, "final")["rows"] == sorted([[a, 1, 8], [b, 1, 7], [b, 4, 7], [c, 1, 7], [c, 4, 7]]), \
        short(one(got, "final")) + where


def test_session_settings_follow_their_connection(request, jdbc, cluster, table_name):
    """SET search_path / statement_timeout through Statement.execute and Connection.setSchema:
    JDBC sends them over the extended protocol (Parse/Bind/Execute/Sync), and they must hold
    for that connection's next statements, whichever server connection Mosaic gives them, and
    for no other connection; one in a failing multi-statement execute is rolled back with it;
    one inside a transaction (autocommit off) holds after COMMIT, not after ROLLBACK, nor after
    a rollback to a savepoint set before it, and inside the transaction on every node it reads.
    On the binary before this test the connection's own next statement already ran with
    the defaults again ('"$user", public', '0')."""
    m = cluster
    got, want = run_both(jdbc, m, "settings", table_name, tenants=m.tenant_arg)
    where = repro(request, "settings", table="jdbc_repro", tenants=m.tenant_arg)
    assert_same("session settings", got, want, where=where)
    assert one(got, "same_connection")["rows"] == [[f"String:{table_name}_nowhere, public", "String:4321ms",
                                                    "String:4MB"]], \
        short(one(got, "same_connection")) + where
    assert one(got, "after_transactions")["rows"] == [[f"String:{table_name}_kept", "String:3333ms", "String:6MB"]], \
        short(one(got, "after_transactions")) + where
    # On the binary before the block's SETs ran on every node: '6MB' on the tenants of nodes 2 and 3.
    assert [r[1] for r in one(got, "every_node_in_transaction")["rows"]] == ["String:2MB"] * 3, \
        short(one(got, "every_node_in_transaction")) + where


def test_temporary_tables_in_a_transaction(request, jdbc, cluster, table_name):
    """A temporary table ON COMMIT DROP in a JDBC transaction (transaction pooling): created,
    filled with executeBatch, read by a PreparedStatement past prepareThreshold, its rows moved
    into the distributed table by INSERT ... SELECT with a parameter (through Mosaic: the rows
    are of the tenants of nodes 2 and 3), gone after COMMIT. On the binary before this test
    the table was 'not a table Mosaic routes' and the move refused for its parameter."""
    m = cluster
    got, want = run_both(jdbc, m, "temp", table_name, tenants=m.tenant_arg)
    where = repro(request, "temp", table="jdbc_repro", tenants=m.tenant_arg)
    assert_same("temporary tables", got, want, where=where)
    assert len(one(got, "moved")["rows"]) == 8, short(one(got, "moved")) + where


def test_batch_with_a_failing_row_leaves_nothing(request, jdbc, cluster, table_name):
    """A batch for 30 tenants whose last row violates the primary key. pgjdbc sends a batch
    with one Sync at its end, so in autocommit mode PostgreSQL runs it as one implicit
    transaction: the error rolls back every row of the batch (in a transaction, rollback()
    does). Through Mosaic nothing of the failed batches may remain either."""
    m = cluster
    got, want = run_both(jdbc, m, "batch", table_name, phase="dup", tenant_count=BATCH_TENANTS)
    where = repro(request, 'batch', table='jdbc_repro', phase='dup', tenant_count=30)
    seed = one(got, "seed")
    assert seed.get("counts") == [1] * BATCH_TENANTS, f"seed batch: {short(seed)}{where}"
    for name in ("plain_autocommit_dup", "rewrite_autocommit_dup", "plain_tx_dup", "rewrite_tx_dup"):
        s = one(got, name)
        assert (s.get("error") or {}).get("state") == "23505", f"batch {name}: {short(s)}{where}"
        assert one(got, name + "_after")["rows"] == [[1]], f"{name}: connection unusable afterwards"
    # what each failed batch left, through Mosaic and on the nodes
    c = m.connect()
    try:
        with c.cursor() as cur:
            cur.execute(f"SELECT id / 1000, count(*) FROM {table_name} WHERE id >= 4000 "
                        "GROUP BY 1 ORDER BY 1")
            left = {f"ids {k * 1000}..{k * 1000 + 39}": n for k, n in cur.fetchall()}
    finally:
        c.close()
    on_nodes = node_rows(m, f"SELECT id / 1000 * 1000, count(*) FROM {table_name} WHERE id >= 4000 "
                            "GROUP BY 1 ORDER BY 1")
    names = {4000: "plain_autocommit_dup", 5000: "rewrite_autocommit_dup", 6000: "plain_tx_dup",
             7000: "rewrite_tx_dup"}
    detail = {node: [(names.get(k, k), n) for k, n in rs] for node, rs in on_nodes.items() if rs}
    assert not left, (f"rows of batches that failed with 23505 were committed through Mosaic: {left} "
                      f"(by node, batch: rows): {detail}; PostgreSQL directly keeps none "
                      f"(its per-tenant totals: {short(one(want, 'totals')['rows'])}){where}")
    assert one(got, "per_tenant")["rows"] == per_tenant(batch_rows(0, BATCH_TENANTS)), \
        short(one(got, "per_tenant"))
    assert_same("failed batches", got, want, where=where)


# ------------------------------------------------------------------ 3. transactions


def test_transactions_savepoints_and_autosave(request, jdbc, cluster, table_name):
    """autocommit off: commit and rollback on one node, a transaction writing on three nodes
    (two-phase commit) committed and one rolled back, setSavepoint / rollback(savepoint) /
    releaseSavepoint over several nodes, an error aborting the block until rollback, and
    autosave=always going on after errors (23505, 22012) and committing."""
    m = cluster
    two_phase = metric(m, "mosaic_two_phase_commits_total")
    got = jdbc.run(m.url, "tx", table=table_name, tenants=m.tenant_arg)
    two_phase = metric(m, "mosaic_two_phase_commits_total") - two_phase
    want = jdbc.run(m.ref_url, "tx", table=table_name, tenants=m.tenant_arg)
    where = repro(request, 'tx', table='jdbc_repro', tenants=m.tenant_arg)
    a, b, c = m.tenants
    final = [[a, 1, "String:committed"], [a, 3, "String:2pc"], [a, 5, "String:before sp1"],
             [a, 10, "String:autosave a"],
             [b, 3, "String:2pc"], [b, 6, "String:after named_sp"], [b, 7, "String:after rollback to sp3"],
             [b, 10, "String:autosave b"],
             [c, 3, "String:2pc"], [c, 6, "String:after rollback to sp1"], [c, 10, "String:autosave c"]]
    final.sort()
    assert one(got, "final")["rows"] == final, \
        f"rows after the transactions, through Mosaic: {short(one(got, 'final'))}\nwant {final}{where}"
    assert_same("transactions", got, want, where=where)
    auto = one(got, "autosave_always")
    assert [r if isinstance(r, (int, list)) else r.get("state") for r in auto["results"]] == \
        [1, 1, "23505", "22012", 1, [[3]]] and auto["commit"] == "ok", short(auto)
    # rows on their tenants' nodes, nothing left prepared, and two-phase commit was used
    per_node = node_rows(m, f"SELECT tenant_id, id FROM {table_name} ORDER BY 1, 2")
    for node, tenant in zip((1, 2, 3), m.tenants):
        want_rows = [(t, i) for t, i, _ in final if t == tenant]
        assert per_node[node] == want_rows, f"node {node}: {per_node[node]}, want {want_rows}"
    assert prepared_xacts(m) == {}, f"prepared transactions left: {prepared_xacts(m)}"
    assert two_phase >= 3, \
        f"mosaic_two_phase_commits_total rose by {two_phase}, want >= 3 (three multi-node commits)"


# ------------------------------------------------------------------ 4. fetch size


def test_fetch_size_cursors(request, jdbc, cluster, table_name):
    """setFetchSize(n) with autocommit off (pgjdbc then reads through a portal, n rows per
    Execute): on one node and over three nodes, with and without ORDER BY, with LIMIT/OFFSET:
    every row comes back, in order where ORDER BY says so."""
    m = cluster
    got, want = run_both(jdbc, m, "fetch", table_name, tenants=m.tenant_arg, rows=200)
    where = repro(request, 'fetch', table='jdbc_repro', tenants=m.tenant_arg, rows=200)
    a = m.tenants[0]
    rows = sorted(((t, i * 100 + t) for t in m.tenants for i in range(1, 201)), key=lambda r: (r[1], r[0]))
    fmt = lambda rs: [f"{t}:{i}" for t, i in rs]  # noqa: E731
    expect = {
        "one_node_ordered": fmt([r for r in rows if r[0] == a]),
        "one_node_prepared": fmt(reversed([r for r in rows if r[0] == a])),
        "multi_node_ordered": fmt(rows),
        "multi_node_prepared_ordered": fmt(sorted(rows, key=lambda r: (-r[1], r[0]))),
        "multi_node_limit": fmt(rows[5:30]),
        "series": [f"{g}:{2 * g}" for g in range(1, 5001)],
    }
    for name, rs in expect.items():
        s = one(got, name)
        assert "error" not in s, f"{name}: {short(s)}{where}"
        assert s["count"] == len(rs) and s["rows"] == rs, \
            (f"{name} (fetch size {s['fetch_size']}): {s['count']} rows through Mosaic, want {len(rs)}; "
             f"first difference at {next((k for k, (x, y) in enumerate(zip(s['rows'], rs)) if x != y), None)}"
             f"{where}")
    s = one(got, "multi_node_unordered")
    assert "error" not in s and sorted(s["rows"]) == sorted(fmt(rows)), f"multi_node_unordered: {short(s)}"
    # on one node, the portal is read fetch-size rows at a time, as on PostgreSQL
    for name in ("one_node_ordered", "one_node_prepared", "series", "multi_node_ordered",
                 "multi_node_prepared_ordered", "multi_node_unordered", "multi_node_limit"):
        assert one(got, name)["wire"]["execute_limited"] > 1, \
            (f"{name}: pgjdbc sent {one(got, name)['wire']['execute_limited']} Execute(s) with a row "
             f"limit: the portal was not handed out fetch-size rows at a time{where}")
    assert one(got, "commit")["result"] == "ok" and one(got, "after")["rows"] == [[600]], \
        short(got[-2:])
    assert_same("fetch size", got, want, where=where)


# ------------------------------------------------------------------ 5. query timeout


@pytest.mark.timeout(90)
def test_query_timeout_cancels_only_its_statement(request, jdbc, cluster):
    """Statement.setQueryTimeout(1) on SELECT pg_sleep(5): pgjdbc sends a CancelRequest after 1 s;
    the statement fails with 57014 at once and the connection goes on (in autocommit mode, and in
    a transaction block after rollback). Meanwhile two other connections run short queries in a
    loop: none of them may see an error (a cancel must never hit another client's statement)."""
    m = cluster
    got = jdbc.run(m.url, "timeout", sleep=5, background=2)
    where = repro(request, 'timeout', sleep=5, background=2)
    rounds = steps_named(got, "autocommit_timeout")
    assert len(rounds) == 2, short(got)
    for s in rounds:
        assert isinstance(s["result"], dict) and s["result"]["state"] == "57014", \
            f"round {s['round']}: pg_sleep(5) with a 1 s query timeout gave {short(s['result'])}{where}"
        assert s["elapsed_ms"] < 3500, f"round {s['round']}: cancelled after {s['elapsed_ms']} ms{where}"
        assert s["after"] == [[42]], f"round {s['round']}: next statement gave {short(s['after'])}{where}"
    tx = one(got, "tx_timeout")
    assert isinstance(tx["result"], dict) and tx["result"]["state"] == "57014", short(tx)
    assert tx["elapsed_ms"] < 3500, f"cancelled after {tx['elapsed_ms']} ms in a transaction"
    assert tx["before"] == [[1]] and tx["next_in_block"].get("state") == "25P02" and \
        tx["rollback"] == "ok" and tx["after"] == [[3]] and tx["commit"] == "ok", short(tx)
    late = one(got, "after_timeouts")
    assert late["statements"] and late["errors"] == [], \
        f"statements after the timeouts failed (a late cancel?): {short(late)}{where}"
    bg = one(got, "background")
    assert bg["ok_positive"] and bg["errors"] == [], \
        f"the other connections' short queries saw errors: {short(bg['errors'], 3000)}{where}"


# ------------------------------------------------------------------ 6. metadata


def test_database_metadata(request, jdbc, cluster, table_name):
    """DatabaseMetaData.getTables / getColumns / getPrimaryKeys of a distributed table (pgjdbc's
    catalog queries) as on PostgreSQL."""
    m = cluster
    got, want = run_both(jdbc, m, "metadata", table_name, tenants=m.tenant_arg, part="database")
    where = repro(request, 'metadata', table='jdbc_repro', tenants=m.tenant_arg, part='database')
    errs = errors_in(got)
    assert not errs, f"SQL errors through Mosaic: {errs}{where}"
    assert one(got, "product")["name"] == "PostgreSQL", short(one(got, "product"))
    tables = one(got, "get_tables")["rows"]
    assert tables == [{"TABLE_SCHEM": "String:public", "TABLE_NAME": f"String:{table_name}",
                       "TABLE_TYPE": "String:TABLE", "REMARKS": "String:jdbc metadata table"}], short(tables)
    columns = one(got, "get_columns")["rows"]
    assert [c["COLUMN_NAME"] for c in columns] == \
        [f"String:{c}" for c in ("tenant_id", "id", "name", "amount", "note", "created")], short(columns)
    keys = one(got, "get_primary_keys")["rows"]
    assert [k["COLUMN_NAME"] for k in keys] == ["String:tenant_id", "String:id"], short(keys)
    assert_same("DatabaseMetaData", got, want, where=where)


def test_result_set_metadata(request, jdbc, cluster, table_name):
    """ResultSetMetaData (names, labels, types, precision, nullability, origin table and column,
    which pgjdbc looks up by the table OID and column number of the RowDescription) of a
    one-node query, a multi-node ORDER BY and a multi-node GROUP BY with aggregates."""
    m = cluster
    got, want = run_both(jdbc, m, "metadata", table_name, tenants=m.tenant_arg, part="resultset")
    where = repro(request, 'metadata', table='jdbc_repro', tenants=m.tenant_arg, part='resultset')
    errs = errors_in(got)
    assert not errs, f"SQL errors through Mosaic: {errs}{where}"
    names = ["rsmd_one_node_1", "rsmd_one_node_2", "rsmd_one_node_3", "rsmd_multi_node",
             "rsmd_multi_node_aggregate"]
    basic = ("name", "label", "type", "class", "precision", "scale")
    problems = []
    for name in names:
        g, w = one(got, name), one(want, name)
        assert g["rows"] == w["rows"], f"{name}: rows {short(g['rows'])}, PostgreSQL {short(w['rows'])}{where}"
        gb = [{k: col[k] for k in basic} for col in g["columns"]]
        wb = [{k: col[k] for k in basic} for col in w["columns"]]
        assert gb == wb, f"{name}: column names/types through Mosaic {gb}\nPostgreSQL {wb}{where}"
        for gc, wc in zip(g["columns"], w["columns"]):
            diff = {k: (gc.get(k), wc[k]) for k in wc if gc.get(k) != wc[k]}
            if diff:
                problems.append(f"{name}, column {wc['name']}: " + ", ".join(
                    f"{k}: Mosaic {v[0]!r}, PostgreSQL {v[1]!r}" for k, v in diff.items()))
    assert not problems, ("ResultSetMetaData differs from PostgreSQL's (tenants on nodes 1, 2, 3; pgjdbc "
                          "resolves table, nullability and serial types by the RowDescription's table "
                          "OID, in a catalog query Mosaic runs on the default node):\n"
                          + "\n".join(problems) + where)


# ------------------------------------------------------------------ 7. pool-like threads


def test_pool_of_threads_get_their_own_rows(request, jdbc, cluster, table_name):
    """8 threads, each with its own connection, run 200 times a prepared point query by a key
    encoding the thread (named server-side statements after the 5th run, which Mosaic pipelines
    with other clients' on shared server connections): each must always get its own row."""
    m = cluster
    pipelined = metric(m, "mosaic_pipelined_statements_total")
    got = jdbc.run(m.url, "pool", table=table_name, threads=8, iterations=200)
    pipelined = metric(m, "mosaic_pipelined_statements_total") - pipelined
    where = repro(request, 'pool', table='jdbc_repro', threads=8, iterations=200)
    threads = steps_named(got, "thread")
    assert [s["thread"] for s in threads] == list(range(8)), short(threads)
    wrong = {s["thread"]: s["bad"] for s in threads if s["ok"] != 200 or s["bad_count"]}
    assert not wrong, f"threads that got an error or another thread's row: {short(wrong, 4000)}{where}"
    assert pipelined > 0, ("mosaic_pipelined_statements_total did not rise: the prepared point "
                           "queries were never pipelined (the scenario no longer exercises it)")


# ------------------------------------------------------------------ DDL over the extended protocol


def test_ddl_over_the_extended_protocol(request, jdbc, cluster, table_name):
    """CREATE TABLE / ALTER TABLE / CREATE INDEX / DROP TABLE sent as JDBC sends them
    (Parse/Bind/Execute: Statement.execute, and what schema migration tools such as Flyway or
    Liquibase run), then the new table used at once, also inside the transaction block that
    created it.
    docs/sql-support.md: tables created through Mosaic are known before the DDL's reply reaches
    the client; new sequences hand out ids no other node hands out."""
    m = cluster
    got, want = run_both(jdbc, m, "ddl", table_name, tenants=m.tenant_arg)
    where = repro(request, 'ddl', table='jdbc_repro', tenants=m.tenant_arg)
    problems = []
    ids = one(got, "insert_default_ids")["ids"]
    if not all(isinstance(i, int) for i in ids):
        problems.append(f"INSERT into the table just created by Statement.execute (extended protocol), "
                        f"through Mosaic: {short(ids, 700)}; PostgreSQL: {one(want, 'insert_default_ids')['ids']}")
    elif len(set(ids)) != len(ids):
        problems.append(f"bigserial ids handed out twice over the nodes: {ids}")
    # A table created inside a transaction block is routed inside it (Mosaic reads the tables
    # through the block's own connection) and by everyone once it has committed: the block's
    # steps compare with PostgreSQL like the others, the dropped table's 42P01 too.
    skip = ("insert_default_ids",)
    diff = differences([s for s in got if s["step"] not in skip], [s for s in want if s["step"] not in skip])
    for key, g, w in diff:
        problems.append(f"step {key[0]!r}: through Mosaic {short(g, 400)}; PostgreSQL {short(w, 400)}")
    # The sequence the extended-protocol CREATE TABLE made must hand out ids no other node hands
    # out, as for DDL over the simple protocol (a simple-protocol DDL first, so that Mosaic has
    # read the catalog again whatever happened above)
    c = m.connect()
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(f"CREATE TABLE {table_name}_refresh (a int)")
            a, b, t3 = m.tenants
            cur.execute(f"INSERT INTO {table_name} (tenant_id, v) VALUES ({a}, 'p'), ({b}, 'p'), ({t3}, 'p') "
                        "RETURNING tenant_id, id")
            more = sorted(cur.fetchall())
    finally:
        c.close()
    more_ids = [i for _, i in more] + [i for i in ids if isinstance(i, int)]
    if len(set(more_ids)) != len(more_ids):
        increments = node_rows(m, "SELECT increment_by FROM pg_sequences WHERE sequencename = "
                                  f"'{table_name}_id_seq'")
        problems.append(f"bigserial of a table created over the extended protocol hands out the same "
                        f"ids on several nodes: (tenant, id) {more} (increment_by per node: {increments})")
    assert not problems, "\n".join(problems) + where
