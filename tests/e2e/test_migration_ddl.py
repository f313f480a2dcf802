"""A schema change left open on a table when a migration of it is submitted.

Before: with `BEGIN; ALTER TABLE t ADD COLUMN x int;` open on the source, the migration copied
every row once the change committed and then failed on checksum differences three times. Now it
fails at once, before it copies anything, and its error names the transaction holding the
schema change open (its last statement on the node may be one Mosaic added to it); the table is as
it was.
"""

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
MOVE = {"action": "move", "tables": ["t"], "tenant": None, "column": "k",
        "ranges": [{"lower": "1000", "upper": "2000", "node": 3}]}


@pytest.mark.timeout(240)
def test_a_schema_change_open_on_the_table_fails_the_migration_at_once():
    with serving(Mosaic(nodes=3, name="migddl", config_text=CONFIG)) as m:
        c = create_t(m, [{"upper": "1000", "node": 1}, {"upper": "2000", "node": 2}, {"node": 3}])
        ddl = m.connect()
        dcur = ddl.cursor()
        dcur.execute("ALTER TABLE t ADD COLUMN x int")  # left open
        started = time.monotonic()
        mid = submit(m, MOVE)
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, body = m.admin_get_json(f"/api/v1/migrations/{mid}")
            if body["phase"] in TERMINAL:
                break
            time.sleep(0.2)
        took = time.monotonic() - started
        print(f"after {took:.1f} s: phase {body['phase']}, rows copied {body['progress']['rows_copied']}, "
              f"error {body['error']}")
        ddl.commit()
        assert body["phase"] == "failed", body
        assert "a schema change is open on the tables on node 2 (pid " in body["error"], body["error"]
        assert body["progress"]["rows_copied"] == 0, body
        assert took < 20, took
        status, placements = m.admin_get_json("/api/v1/placements?table=t")
        assert [r["node"] for r in placements["placements"][0]["ranges"]] == [1, 2, 3], placements
        cur = c.cursor()
        cur.execute("SELECT count(*), sum(v), count(x) FROM t")  # the schema change committed
        assert cur.fetchone() == (4000, 0, 0)
        c.close()
        ddl.close()
