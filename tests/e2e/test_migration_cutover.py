"""The cutover must not hold writers behind a transaction that stays open on the moving rows.

Before: every cutover cycle ended with one attempt without a budget that kept the write fence
closed for cutover_drain_ms (2 s) waiting for the open transaction, then went back to the
checksums and came again about 2 s later, with no back-off: writes to the moving rows were
blocked about 60% of the time for as long as the transaction stayed open, and a stream of
1-2 s transactions made the cutover that succeeded hold the fence for up to 2 s.
Now every attempt has the budget (cutover_fence_budget_ms): a fence that does not drain within it
opens again at once, the attempts back off (up to 2 s apart) and close the fence at a moment when
no transaction is inside it; the migration's progress says what blocks it; past
cutover_timeout_s the migration fails (rolls back) with an error naming the blocker.

Layout: t split on k: [0, 1000) node 1, [1000, 2000) node 2, [2000, ...) node 3; [1000, 2000)
moves to node 3 while a transaction holds k = 1500.
"""

import random
import threading
import time

import pytest

from harness import Mosaic, serving
from migration_common import TERMINAL, create_t, migration, submit, wait_phase, wait_slots_started

CONFIG = """
[migration]
retention_s = 1
shadow_min_s = 1
copy_rows_per_s = 0
{extra}"""
MOVE = {"action": "move", "tables": ["t"], "tenant": None, "column": "k",
        "ranges": [{"lower": "1000", "upper": "2000", "node": 3}]}
TICK_S = 0.05
SLOW_S = 0.2


def setup_table(m):
    return create_t(m, [{"upper": "1000", "node": 1}, {"upper": "2000", "node": 2}, {"node": 3}])


class Writer:
    """Writes a moving row every TICK_S on a fixed schedule; a write's delay is counted from when
    it was due (so a write held at the fence also delays the ones due behind it)."""

    def __init__(self, m):
        self.m = m
        self.delays = []
        self.errors = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        w = self.m.connect()
        w.autocommit = True
        cur = w.cursor()
        start = time.monotonic()
        i = 0
        while not self.stopping.is_set():
            due = start + i * TICK_S
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            try:
                cur.execute("UPDATE t SET v = v + 1 WHERE k = %s", (1600 + i % 400,))  # moves, not k = 1500
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.errors.append(repr(e))
            self.delays.append(time.monotonic() - due)
            i += 1
        w.close()

    def stop(self):
        self.stopping.set()
        self.thread.join(60)
        slow = sum(1 for d in self.delays if d > SLOW_S)
        return slow / max(1, len(self.delays)), max(self.delays, default=0.0)


def open_blocker(m, mid):
    # The replica identity ALTER and the slot's creation wait for open transactions on node 2:
    # open ours once the slot has found its start.
    wait_slots_started(m, mid, source=2, slots=1)
    holder = m.connect()
    hcur = holder.cursor()
    hcur.execute("UPDATE t SET v = v + 1 WHERE k = 1500")  # left open, idle in transaction
    assert hcur.rowcount == 1
    return holder


def check_rows(c, writes_ok, blocker_committed):
    cur = c.cursor()
    cur.execute("SELECT count(*), sum(v) FROM t")
    count, total = cur.fetchone()
    assert count == 4000 and total == writes_ok + (1 if blocker_committed else 0), (count, total, writes_ok)


@pytest.mark.timeout(300)
def test_a_transaction_left_open_on_the_moving_rows_does_not_hold_their_writers():
    with serving(Mosaic(nodes=3, name="cutover", config_text=CONFIG.format(extra=""))) as m:
        c = setup_table(m)
        mid = submit(m, MOVE)
        holder = open_blocker(m, mid)
        writer = Writer(m)
        wait_phase(m, mid, ("cutover",), timeout=120)
        blocked_by = None
        hold_until = time.monotonic() + 20
        while time.monotonic() < hold_until:
            body = migration(m, mid)
            assert body["phase"] not in TERMINAL, body
            blocked_by = body["progress"].get("cutover_blocked_by") or blocked_by
            time.sleep(0.5)
        holder.commit()
        committed_at = time.monotonic()
        body = wait_phase(m, mid, TERMINAL, timeout=60)
        switched_s = time.monotonic() - committed_at
        time.sleep(1)
        slow_share, worst = writer.stop()
        print(f"{len(writer.delays)} writes; {slow_share:.1%} slower than {SLOW_S} s; worst {worst:.3f} s; "
              f"blocked by: {blocked_by}; switched {switched_s:.1f} s after the commit; "
              f"pause {body['timings']['cutover_pause_ms']} ms; "
              f"{len(body['timings']['cutover_abandoned_ms'])} fence(s) opened again")
        assert writer.errors == [], writer.errors[:3]
        assert slow_share < 0.10, f"{slow_share:.1%} of the writes waited more than {SLOW_S} s"
        assert worst < 1.0, f"a write waited {worst:.2f} s"
        assert body["phase"] == "done", body
        assert switched_s < 10, switched_s
        assert body["timings"]["cutover_pause_ms"] < 500, body["timings"]
        assert blocked_by is not None and "idle in transaction" in blocked_by, blocked_by
        assert "UPDATE t SET v = v + 1 WHERE k = 1500" in blocked_by, blocked_by
        check_rows(c, len(writer.delays), blocker_committed=True)
        holder.close()
        c.close()


@pytest.mark.timeout(300)
def test_a_cutover_blocked_past_cutover_timeout_s_fails_and_names_the_blocker():
    config = CONFIG.format(extra="cutover_timeout_s = 6\n")
    with serving(Mosaic(nodes=3, name="cutover-timeout", config_text=config)) as m:
        c = setup_table(m)
        mid = submit(m, MOVE)
        holder = open_blocker(m, mid)
        writer = Writer(m)
        # The rollback restores the replica identity, which waits for the open transaction.
        started = time.monotonic()
        wait_phase(m, mid, ("rolling_back", "failed"), timeout=120)
        gave_up_s = time.monotonic() - started
        slow_share, worst = writer.stop()
        holder.commit()
        body = wait_phase(m, mid, TERMINAL, timeout=120)
        print(f"{len(writer.delays)} writes; {slow_share:.1%} slower than {SLOW_S} s; worst {worst:.3f} s; "
              f"gave up after {gave_up_s:.1f} s; error: {body['error']}")
        assert body["phase"] == "failed", body
        assert "cutover" in body["error"] and "idle in transaction" in body["error"], body["error"]
        assert "k = 1500" in body["error"], body["error"]
        assert writer.errors == [], writer.errors[:3]
        assert slow_share < 0.10 and worst < 1.0, (slow_share, worst)
        status, placements = m.admin_get_json("/api/v1/placements?table=t")
        assert status == 200, placements
        assert [r["node"] for r in placements["placements"][0]["ranges"]] == [1, 2, 3], placements
        check_rows(c, len(writer.delays), blocker_committed=True)
        holder.close()
        c.close()


@pytest.mark.timeout(300)
def test_a_stream_of_long_transactions_on_the_moving_rows_cuts_over_within_the_budget():
    with serving(Mosaic(nodes=3, name="cutover-stream", config_text=CONFIG.format(extra=""))) as m:
        c = setup_table(m)
        mid = submit(m, MOVE)
        wait_slots_started(m, mid, source=2, slots=1)
        stop = threading.Event()
        done = []

        def stream():
            s = m.connect()
            cur = s.cursor()
            rng = random.Random(7)
            while not stop.is_set():
                cur.execute("UPDATE t SET v = v + 1 WHERE k = 1500")
                time.sleep(rng.uniform(1.0, 2.0))
                s.commit()
                done.append(1)
                time.sleep(0.005)
            s.close()

        thread = threading.Thread(target=stream, daemon=True)
        thread.start()
        body = wait_phase(m, mid, TERMINAL, timeout=180)
        stop.set()
        thread.join(30)
        pause = body["timings"]["cutover_pause_ms"]
        print(f"cutover pause {pause} ms; {len(body['timings']['cutover_abandoned_ms'])} fence(s) opened again "
              f"(longest {max(body['timings']['cutover_abandoned_ms'], default=0)} ms); {len(done)} transactions")
        assert body["phase"] == "done", body
        assert pause < 200, body["timings"]
        assert max(body["timings"]["cutover_abandoned_ms"], default=0) < 200, body["timings"]
        cur = c.cursor()
        cur.execute("SELECT v FROM t WHERE k = 1500")
        assert cur.fetchone()[0] == len(done)
        c.close()
