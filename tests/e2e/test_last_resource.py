"""Last-resource commit: a transaction block that used temporary tables (they live on the default
node, node 1) and wrote rows on node 1 and on other nodes. PostgreSQL cannot PREPARE node 1's part
("cannot PREPARE a transaction that has operated on temporary objects"), so Mosaic prepares the
other writers, records the decision in node 1's own transaction (_mosaic.local_decisions), commits
node 1 in one phase and then the others. On the binary before this test every such COMMIT failed
with that 0A000 and nothing of the block landed.

Also a COMMIT that fails on node 1 (a deferred constraint) rolls back every node, and the router
killed before or after node 1's commit leaves what the recovery pass resolves by node 1's row.
"""

import io
import re

import psycopg2
import pytest

from harness import Mosaic, serving
from test_deadlock import node_sql
from test_temp_tables import IDS, split_table


def prepared_anywhere(m):
    return [node_sql(m, n, "SELECT count(*) FROM pg_prepared_xacts")[0][0] for n in (1, 2, 3)]


def local_decisions(m):
    return node_sql(m, 1, "SELECT count(*) FROM _mosaic.local_decisions")[0][0]


def metric(m, name, labels=""):
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", m.metrics(), re.M)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def session_mosaic():
    with serving(Mosaic(nodes=3, name="lastres", extra_args=["--pool-mode", "session"])) as m:
        yield m


def test_a_block_with_temporary_tables_writing_on_several_nodes_commits(session_mosaic):
    m = session_mosaic
    split_table(m, "lr_split")
    c = m.connect()
    try:
        cur = c.cursor()
        c.autocommit = True
        cur.execute("CREATE TEMP TABLE stage (id int, v int)")
        c.autocommit = False
        cur.execute("INSERT INTO stage VALUES (10, 1), (1010, 2), (2010, 3)")  # a row for each node
        cur.execute("INSERT INTO lr_split SELECT id, v FROM stage")
        cur.execute("UPDATE lr_split SET v = v + 1 WHERE id IN (500, 2500)")
        c.commit()
        cur.execute("SELECT id, v FROM lr_split ORDER BY id")
        assert cur.fetchall() == [(10, 1), (500, 501), (1010, 2), (1500, 1500), (2010, 3), (2500, 2501)]
        c.commit()
        # A commit that fails on node 1 (a deferred constraint checked at COMMIT) rolls back
        # the rows of every node, as one PostgreSQL would.
        c.autocommit = True
        cur.execute("CREATE TABLE lr_deferred (id int PRIMARY KEY, u int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        m.split_by_id("lr_deferred", None)
        c.autocommit = False
        cur.execute("INSERT INTO lr_deferred SELECT id, 7 FROM stage WHERE id < 1000")
        cur.execute("INSERT INTO lr_deferred SELECT id + 1, 7 FROM stage")  # u = 7 twice on node 1
        with pytest.raises(psycopg2.errors.UniqueViolation):
            c.commit()
        c.rollback()
        cur.execute("SELECT count(*) FROM lr_deferred")
        assert cur.fetchone()[0] == 0
        c.commit()
    finally:
        c.close()
    assert prepared_anywhere(m) == [0, 0, 0]
    assert local_decisions(m) == 0  # each decision is deleted once every node committed


def test_the_bulk_load_pattern_of_transaction_pooling(mosaic, table_name):
    # Stage rows in a temporary table dropped at commit, move them into the split table: rows
    # for node 1 too.
    split_table(mosaic, table_name)
    c = mosaic.connect()
    try:
        cur = c.cursor()
        cur.execute("CREATE TEMP TABLE stage (id int, v int) ON COMMIT DROP")
        cur.copy_expert("COPY stage FROM STDIN", io.StringIO("100\t1\n1100\t2\n2100\t3\n"))
        cur.execute(f"INSERT INTO {table_name} SELECT id, v FROM stage")
        c.commit()
        cur.execute(f"SELECT id FROM {table_name} ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [100, 500, 1100, 1500, 2100, 2500]
        c.commit()
    finally:
        c.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("point,outcome", [("prepare-all", "rollback"), ("decision", "commit")])
def test_a_router_killed_during_a_last_resource_commit_is_resolved_by_node_1(point, outcome):
    # Either side of the commit point. prepare-all: node 2 and 3 prepared, the decision written
    # but node 1 not committed (its backend rolls back when the router's connection goes).
    # decision: node 1 committed, the others still prepared. The start-up recovery pass settles
    # both by node 1's row. (prepare-some and commit-some, run by hand, resolve the same way.)
    args = ["--pool-mode", "session", "--router-id", "lr-1"]
    with serving(Mosaic(nodes=3, name=f"lrcrash-{point}", extra_args=args)) as m:
        split_table(m, "lr_crash")
        m.stop()
        m.extra_args = args + ["--test-fault", f"{point}:1"]  # the first two-phase commit from here
        m.start()
        c = m.connect()
        cur = c.cursor()
        c.autocommit = True
        cur.execute("CREATE TEMP TABLE stage (id int, v int)")
        c.autocommit = False
        cur.execute("INSERT INTO stage VALUES (20, 1), (1020, 2), (2020, 3)")
        cur.execute("INSERT INTO lr_crash SELECT id, v FROM stage")
        with pytest.raises(psycopg2.OperationalError):
            c.commit()
        m.proc.wait(10)
        assert f"test fault {point}" in m.log_tail(200)
        m.extra_args = args
        m.start()
        assert metric(m, "mosaic_two_phase_recovered_total", f'{{outcome="{outcome}"}}') >= 1, m.log_tail()
        c = m.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("SELECT id FROM lr_crash ORDER BY id")
        landed = [r[0] for r in cur.fetchall()]
        new = [20, 1020, 2020] if outcome == "commit" else []
        assert landed == sorted(list(IDS) + new)
        c.close()
        assert prepared_anywhere(m) == [0, 0, 0]
