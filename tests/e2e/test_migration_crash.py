"""Online migration (issue 8) survives crashes: Mosaic killed (SIGKILL) in each phase and under
the cutover write fence, a target node's PostgreSQL killed mid-copy. Each time the migration
ends done or rolled back by itself and the invariants of migration_common.py hold.
"""

import os
import signal
import time

import pytest

# `bench` is the module-scoped fixture: this module gets its own instance.
from migration_common import (MERGE, SINGLE, SPLIT, TERMINAL, Traffic, bench, check_invariants,  # noqa: F401
                              ensure, failed_transactions, pgbench, restart, submit, wait_phase)


@pytest.mark.parametrize("phase", ["shadow_reads", "incremental_writes", "deprecated"])
@pytest.mark.timeout(420)
def test_kill_mosaic_in_each_phase(bench, phase):
    m = bench
    restart(m, retention=3, rate=0)
    ensure(m, MERGE, SINGLE)
    if phase == "shadow_reads":
        restart(m, retention=3, rate=10000)  # a slow copy, so that the kill lands in the middle of it
    traffic = Traffic(m)
    mid = submit(m, SPLIT)
    wait_phase(m, mid, (phase,))
    if phase == "shadow_reads":
        time.sleep(1.5)
    m.kill()
    summary = traffic.stop()  # pgbench loses its connections: those clients abort
    m.start()
    body = wait_phase(m, mid, TERMINAL, timeout=240)
    assert body["phase"] in ("done", "rolled_back"), body
    check_invariants(m, f"after kill -9 in {phase}")
    # and the data path still works
    r = pgbench(m, "-n", "-c", "2", "-t", "50")
    assert failed_transactions(r.stdout) == 0, r.stdout + r.stderr
    check_invariants(m, f"after kill -9 in {phase}, more traffic")


@pytest.mark.timeout(420)
def test_kill_mosaic_under_the_cutover_fence(bench):
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    m.stop()
    m.extra_args = ["--test-fault", "migration-cutover"]
    m.start()
    traffic = Traffic(m)
    mid = submit(m, SPLIT)
    m.proc.wait(120)
    assert m.proc.returncode == -signal.SIGKILL, m.log_tail()
    traffic.stop()
    m.extra_args = []
    m.start()
    body = wait_phase(m, mid, TERMINAL, timeout=240)
    assert body["phase"] == "done", body
    phases = [j["phase"] for j in body["journal"]]
    assert phases.count("cutover") >= 2, phases  # interrupted once, then done again
    check_invariants(m, "after kill -9 under the cutover fence")


@pytest.mark.timeout(420)
def test_target_node_killed_mid_copy(bench):
    m = bench
    restart(m, retention=1, rate=0)
    ensure(m, MERGE, SINGLE)
    restart(m, retention=1, rate=10000)
    mid = submit(m, SPLIT)
    wait_phase(m, mid, ("shadow_reads",))
    time.sleep(1.5)
    os.kill(m.postmaster_pid(2), signal.SIGKILL)  # Mosaic's supervisor restarts it
    body = wait_phase(m, mid, TERMINAL, timeout=240)
    assert body["phase"] in ("done", "rolled_back"), body
    check_invariants(m, "after the target node was killed mid-copy")
