"""A REPEATABLE READ or SERIALIZABLE transaction must not read a moved range through a snapshot
that predates the move.

Such a transaction's snapshot on a node is taken by its first statement there. If that
statement ran on the target node of a migration before the cutover, the rows the migration
copied there later are invisible to it: after the cutover the moved range reads as empty there
(`count(*)` 0 for 1000 rows, `UPDATE ... WHERE k = 1500` answers UPDATE 0 and COMMIT succeeds,
on the binary before this test). PostgreSQL would show the rows or fail the transaction with
40001; Mosaic now fails it with 40001 when a statement's rows are on other nodes than when the
transaction's first statement ran. READ COMMITTED takes a snapshot per statement and sees them.

Layout: t split on k: [0, 1000) node 1, [1000, 2000) node 1, [2000, ...) node 2; [1000, 2000)
moves to node 2 while the transactions below are open, each having read a row of node 2 first
(of u, a table all on node 2).
"""

import psycopg2
import pytest

from harness import Mosaic, serving
from migration_common import submit, wait_phase

CONFIG = """
[migration]
retention_s = 600
shadow_min_s = 1
copy_rows_per_s = 0
"""


def open_block(m, begin, setup=None):
    c = m.connect()
    cur = c.cursor()
    c.autocommit = True
    if setup:
        cur.execute(setup)
    cur.execute(begin)
    return c, cur


@pytest.mark.timeout(240)
def test_a_snapshot_older_than_a_cutover_fails_with_40001_not_an_empty_range():
    with serving(Mosaic(nodes=2, name="migiso", config_text=CONFIG)) as m:
        c = m.connect()
        c.autocommit = True
        cur = c.cursor()
        cur.execute("CREATE TABLE t (k int8 PRIMARY KEY, v int NOT NULL)")
        status, body = m.admin_post("/api/v1/layout", {
            "tables": ["t"], "tenant": None, "column": "k",
            "ranges": [{"upper": "1000", "node": 1}, {"upper": "2000", "node": 1}, {"node": 2}]})
        assert status == 200, body
        cur.execute("INSERT INTO t VALUES " + ",".join(f"({g}, 0)" for g in range(3000)))
        # Another table, all on node 2: the transactions' first reads there. (A read of t would
        # hold the migration's ALTER TABLE ... REPLICA IDENTITY on node 2 until they end.)
        cur.execute("CREATE TABLE u (k int8 PRIMARY KEY, v int NOT NULL)")
        status, body = m.admin_post("/api/v1/layout", {
            "tables": ["u"], "tenant": None, "column": "k", "ranges": [{"node": 2}]})
        assert status == 200, body
        cur.execute("INSERT INTO u VALUES (1, 7)")

        # Each block reads a row of node 2 (its snapshot there) before the migration starts.
        blocks = {
            "repeatable read": open_block(m, "BEGIN ISOLATION LEVEL REPEATABLE READ"),
            # The level comes from the session's default here, not from BEGIN's text.
            "serializable": open_block(m, "BEGIN", "SET default_transaction_isolation = 'serializable'"),
            "update": open_block(m, "START TRANSACTION ISOLATION LEVEL REPEATABLE READ"),
            "read committed": open_block(m, "BEGIN"),
        }
        for _, bcur in blocks.values():
            bcur.execute("SELECT v FROM u WHERE k = 1")
            assert bcur.fetchone() == (7,)
        # No statement yet: its snapshot is taken after the cutover, it sees the rows.
        late, late_cur = open_block(m, "BEGIN ISOLATION LEVEL REPEATABLE READ")

        mid = submit(m, {"action": "move", "tables": ["t"], "tenant": None, "column": "k",
                         "ranges": [{"lower": "1000", "upper": "2000", "node": 2}]})
        body = wait_phase(m, mid, ("deprecated", "done"), timeout=180)
        assert body["phase"] in ("deprecated", "done"), body

        found = {}
        for name, (_, bcur) in blocks.items():
            try:
                if name == "update":
                    bcur.execute("UPDATE t SET v = v + 1 WHERE k = 1500")
                    found[name] = f"UPDATE {bcur.rowcount}"
                else:
                    bcur.execute("SELECT count(*) FROM t WHERE k >= 1000 AND k < 2000")
                    found[name] = bcur.fetchone()[0]
            except psycopg2.Error as e:
                found[name] = e.pgcode
        late_cur.execute("SELECT count(*) FROM t WHERE k >= 1000 AND k < 2000")
        found["begun, nothing run"] = late_cur.fetchone()[0]
        print(found)
        assert found == {"repeatable read": "40001", "serializable": "40001", "update": "40001",
                         "read committed": 1000, "begun, nothing run": 1000}, found

        # The failed blocks are aborted, as PostgreSQL leaves them after 40001, and end cleanly.
        for name in ("repeatable read", "serializable", "update"):
            bconn, bcur = blocks[name]
            with pytest.raises(psycopg2.Error) as err:
                bcur.execute("SELECT 1")
            assert err.value.pgcode == "25P02"
            bcur.execute("ROLLBACK")
            bcur.execute("SELECT count(*) FROM t WHERE k >= 1000 AND k < 2000")
            assert bcur.fetchone()[0] == 1000
        for bconn, _ in blocks.values():
            bconn.close()
        late_cur.execute("COMMIT")
        late.close()
        # (One node at a time: until the migration is done a statement on both would be refused.)
        cur.execute("SELECT count(*), sum(v) FROM t WHERE k < 1000")
        assert cur.fetchone() == (1000, 0)
        cur.execute("SELECT count(*), sum(v) FROM t WHERE k >= 1000")
        assert cur.fetchone() == (2000, 0)
        c.close()
