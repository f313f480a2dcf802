"""A migration must not stall the rows that do not move.

A migration sets REPLICA IDENTITY FULL on the moving tables (and restores it at the end): an
ALTER TABLE, which takes the table's ACCESS EXCLUSIVE lock. Behind one transaction left open on
the table on that node (even a read of rows that stay), the ALTER waited, and every later
statement on the table on that node waited behind it: writes to rows that do not move stalled
for as long as the transaction stayed open (20 s in this test on the binary before). Now each
try of the ALTER waits 100 ms at most and comes again later.

Layout: t split on k: [0, 1000) node 1, [1000, 2000) and [2000, 3000) node 2, [3000, ...) node 3;
[1000, 2000) moves to node 3 while a reader holds a row of [2000, 3000) on node 2.
"""

import threading
import time

import pytest

from harness import Mosaic, serving
from migration_common import TERMINAL, create_t, submit, wait_phase

CONFIG = """
[migration]
retention_s = 1
shadow_min_s = 1
copy_rows_per_s = 0
"""
HOLD_S = 12


@pytest.mark.timeout(240)
def test_a_transaction_open_on_rows_that_stay_does_not_stall_their_writers():
    with serving(Mosaic(nodes=3, name="miglocks", config_text=CONFIG)) as m:
        c = create_t(m, [{"upper": "1000", "node": 1}, {"upper": "2000", "node": 2},
                         {"upper": "3000", "node": 2}, {"node": 3}])
        cur = c.cursor()

        stop = threading.Event()
        latencies = []

        def writer():
            w = m.connect()
            w.autocommit = True
            wc = w.cursor()
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                wc.execute("UPDATE t SET v = v + 1 WHERE k = %s", (2000 + i % 500,))  # node 2, stays
                latencies.append(time.monotonic() - t0)
                i += 1
                time.sleep(0.01)
            w.close()

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        reader = m.connect()
        rcur = reader.cursor()
        rcur.execute("SELECT v FROM t WHERE k = 2500")  # node 2; the transaction stays open
        mid = submit(m, {"action": "move", "tables": ["t"], "tenant": None, "column": "k",
                         "ranges": [{"lower": "1000", "upper": "2000", "node": 3}]})
        time.sleep(HOLD_S)
        reader.commit()
        body = wait_phase(m, mid, TERMINAL, timeout=180)
        stop.set()
        thread.join(30)
        assert body["phase"] == "done", body
        worst = max(latencies)
        print(f"{len(latencies)} writes to rows that stay, slowest {worst:.3f} s")
        assert worst < 3.0, f"a write to a row that does not move waited {worst:.1f} s"
        cur.execute("SELECT count(*), sum(v) FROM t")
        count, total = cur.fetchone()
        assert count == 4000 and total == len(latencies)
        reader.close()
        c.close()
