"""pgbench through Mosaic: initialise, then select-only (simple, prepared) and TPC-B-like
(extended) runs. Every run must finish with zero failed transactions and tps > 0."""

import re
import subprocess

import pytest


def pgbench(mosaic, *args, timeout=120):
    cmd = ["pgbench", "-h", mosaic.host, "-p", str(mosaic.port), "-U", "mosaic", *args, "mosaic"]
    return subprocess.run(cmd, env=mosaic.client_env(), capture_output=True, text=True,
                          timeout=timeout)


def parse_tps(out):
    m = re.search(r"^tps = ([0-9.]+)", out, re.M)
    assert m, f"no tps line in pgbench output:\n{out}"
    return float(m.group(1))


@pytest.fixture(scope="module")
def pgbench_db(mosaic):
    r = pgbench(mosaic, "-i", "-s", "1", "-q")
    assert r.returncode == 0, f"pgbench -i failed:\n{r.stdout}\n{r.stderr}"
    assert "done in" in r.stderr, r.stderr
    return mosaic


def check_run(r, clients):
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"pgbench exited {r.returncode}:\n{out}"
    assert "number of failed transactions: 0" in out, out
    assert f"number of clients: {clients}" in out, out
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    assert m and int(m.group(1)) > 0, out
    tps = parse_tps(out)
    assert tps > 0, out
    return tps


def test_pgbench_init_loaded_rows(pgbench_db):
    r = pgbench_db.psql("SELECT (SELECT count(*) FROM pgbench_accounts), "
                        "(SELECT count(*) FROM pgbench_branches), "
                        "(SELECT count(*) FROM pgbench_tellers)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "100000|1|10"


def test_pgbench_select_only_simple(pgbench_db):
    r = pgbench(pgbench_db, "-S", "-T", "5", "-c", "8", "-j", "2")
    check_run(r, 8)


def test_pgbench_select_only_prepared(pgbench_db):
    r = pgbench(pgbench_db, "-M", "prepared", "-S", "-T", "5", "-c", "8", "-j", "2")
    check_run(r, 8)


def test_pgbench_tpcb_extended(pgbench_db):
    before = pgbench_db.psql("SELECT count(*) FROM pgbench_history")
    assert before.returncode == 0, before.stderr
    r = pgbench(pgbench_db, "-M", "extended", "-T", "5", "-c", "4", "-j", "2")
    check_run(r, 4)
    processed = int(re.search(r"number of transactions actually processed: (\d+)",
                              r.stdout).group(1))
    after = pgbench_db.psql("SELECT count(*) FROM pgbench_history")
    # every TPC-B transaction inserts exactly one history row
    assert int(after.stdout.strip()) - int(before.stdout.strip()) == processed
    # balances stay consistent: the sum of deltas equals each table's balance sum
    r = pgbench_db.psql("SELECT (SELECT sum(delta) FROM pgbench_history) = "
                        "(SELECT sum(abalance) FROM pgbench_accounts) AND "
                        "(SELECT sum(delta) FROM pgbench_history) = "
                        "(SELECT sum(bbalance) FROM pgbench_branches)")
    assert r.stdout.strip() == "t", r.stdout + r.stderr
