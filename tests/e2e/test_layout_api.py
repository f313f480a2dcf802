"""The layout API (POST /api/v1/layout, GET /api/v1/placements, GET /api/v1/tables), the
`mosaic layout` CLI, and mosaic.create_reference_table, on one Mosaic with 3 managed nodes.
Rows that must sit on a given node are written to that node directly, so these tests check the
control plane whatever the router does with them."""
import subprocess
import urllib.parse

import pytest

import harness

ISSUE_RANGES = [{"upper": "2024-01-01", "node": 1}, {"upper": "2024-07-01", "node": 2},
                {"node": 3}]


@pytest.fixture(scope="module")
def m():
    with harness.serving(harness.Mosaic(nodes=3, name="layout")) as instance:
        yield instance


def ddl(m, sql):
    r = m.psql(sql)
    assert r.returncode == 0, r.stderr


def on_node(m, node_id, sql, params=None):
    """Runs `sql` on a node directly; returns the rows of a query, None otherwise."""
    node = next(n for n in m.nodes() if n["id"] == node_id)
    c = m.connect_node(node)
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        c.close()


def placements(m, **query):
    status, body = m.admin_get_json("/api/v1/placements?" + urllib.parse.urlencode(query))
    assert status == 200, body
    return body


def test_tables_lists_discovered_tables(m, table_name):
    ddl(m, f"CREATE TABLE {table_name} (tenant_id int8, id int, created date)")
    status, body = m.admin_get_json("/api/v1/tables")
    assert status == 200, body
    table = next(t for t in body["tables"] if t["name"] == table_name)
    assert table["schema"] == "public"
    assert table["kind"] == "distributed"
    assert table["tenant_column"] == "tenant_id"
    assert [(c["name"], c["type"]) for c in table["columns"]] == [
        ("tenant_id", "int8"), ("id", "int4"), ("created", "date")]
    assert body["shard_map_version"] >= 1


def test_layout_is_stored_and_listed(m, table_name):
    ddl(m, f"CREATE TABLE {table_name} (tenant_id int8, order_date date)")
    status, body = m.admin_post("/api/v1/layout", {
        "table": table_name, "tenant": "42", "column": "order_date", "ranges": ISSUE_RANGES})
    assert status == 200, body
    version = body["shard_map_version"]
    [layout] = body["placements"]
    assert layout["kind"] == "layout"
    assert layout["tables"] == [f"public.{table_name}"]
    assert layout["tenant"] == "42"
    assert layout["column"] == "order_date"
    assert [(r["lower"], r["upper"], r["node"], r["version"]) for r in layout["ranges"]] == [
        (None, "2024-01-01", 1, version), ("2024-01-01", "2024-07-01", 2, version),
        ("2024-07-01", None, 3, version)]

    listed = placements(m, table=table_name, tenant="42")
    assert listed["shard_map_version"] == version
    assert listed["placements"] == [layout]
    # Another tenant of the table lives whole on its home node.
    [home] = placements(m, table=table_name, tenant="7")["placements"]
    assert home["kind"] == "home" and home["tenant"] == "7"
    assert [(r["lower"], r["upper"]) for r in home["ranges"]] == [(None, None)]
    assert home["ranges"][0]["node"] in (1, 2, 3)
    # Without a tenant: the layout, and the other tenants hashed over the nodes.
    kinds = [p["kind"] for p in placements(m, table=table_name)["placements"]]
    assert kinds == ["layout", "hash"]


def test_table_group_of_single_tenant_tables(m, table_name):
    a, b = f"{table_name}_a", f"{table_name}_b"
    ddl(m, f"CREATE TABLE {a} (aid int, v text); CREATE TABLE {b} (aid int)")
    status, body = m.admin_post("/api/v1/layout", {
        "tables": [a, b], "tenant": None, "column": "aid",
        "ranges": [{"upper": 1000, "node": 1}, {"upper": "2000", "node": 2}, {"node": 3}]})
    assert status == 200, body
    [layout] = body["placements"]
    assert layout["tenant"] is None
    assert sorted(layout["tables"]) == sorted([f"public.{a}", f"public.{b}"])
    assert [r["upper"] for r in layout["ranges"]] == ["1000", "2000", None]


@pytest.mark.parametrize("change, field", [
    ({"table": "no_such_table"}, "table: relation \"no_such_table\" does not exist"),
    ({"tenant": None}, "tenant: "),
    ({"column": "nope"}, "column: \"nope\" is not a column"),
    ({"column": "payload"}, "column: \"payload\" of"),
    ({"ranges": [{"upper": "2024-07-01", "node": 1}, {"upper": "2024-01-01", "node": 2},
                 {"node": 3}]}, "ranges[1].upper: "),
    ({"ranges": [{"upper": "2024-01-01", "node": 1}]}, "ranges[0].upper: the last range"),
    ({"ranges": [{"upper": "2024-01-01", "node": 1}, {"node": 99}]}, "ranges[1].node: "),
    ({"ranges": [{"upper": "2024-13-45", "node": 1}, {"node": 2}]}, "ranges[0].upper: "),
])
def test_bad_layouts_are_400_naming_the_field(m, table_name, change, field):
    ddl(m, f"CREATE TABLE {table_name} (tenant_id int8, order_date date, payload jsonb)")
    request = {"table": table_name, "tenant": "1", "column": "order_date",
               "ranges": ISSUE_RANGES}
    request.update(change)
    status, body = m.admin_post("/api/v1/layout", request)
    assert status == 400, body
    assert body["error"].startswith(field), body


def test_layout_that_would_move_rows_is_409(m, table_name):
    ddl(m, f"CREATE TABLE {table_name} (tenant_id int8, order_date date)")
    on_node(m, 2, f"INSERT INTO {table_name} VALUES (9, '2023-05-01'), (9, '2024-03-01')")
    status, body = m.admin_post("/api/v1/layout", {
        "table": table_name, "tenant": "9", "column": "order_date",
        "ranges": [{"upper": "2024-01-01", "node": 2}, {"node": 3}]})
    assert status == 409, body
    assert body["error"] == (
        f"range [2024-01-01, +infinity) of table \"public.{table_name}\" (tenant 9) already "
        "holds rows on node 2, and the layout would place it on node 3; moving rows is the "
        "migration service's job")
    assert placements(m, table=table_name, tenant="9")["placements"][0]["kind"] == "home"
    # A layout that keeps both rows on node 2 is fine.
    status, body = m.admin_post("/api/v1/layout", {
        "table": table_name, "tenant": "9", "column": "order_date",
        "ranges": [{"upper": "2024-01-01", "node": 2}, {"upper": "2025-01-01", "node": 2},
                   {"node": 1}]})
    assert status == 200, body


def test_create_reference_table_copies_rows_to_every_node(m, table_name):
    ddl(m, f"CREATE TABLE {table_name} (code text PRIMARY KEY, name text)")
    on_node(m, 1, f"INSERT INTO {table_name} SELECT 'c' || i, 'country ' || i "
                  "FROM generate_series(1, 300) i")
    on_node(m, 3, f"INSERT INTO {table_name} VALUES ('stale', 'left over')")
    r = m.psql(f"SELECT mosaic.create_reference_table('{table_name}')")
    assert r.returncode == 0, r.stderr
    digest = (f"SELECT count(*), md5(string_agg(code || name, ',' ORDER BY code)) "
              f"FROM {table_name}")
    expected = on_node(m, 1, digest)
    assert expected[0][0] == 300
    for node_id in (2, 3):
        assert on_node(m, node_id, digest) == expected, f"node {node_id}"
    status, body = m.admin_get_json("/api/v1/tables")
    assert next(t for t in body["tables"] if t["name"] == table_name)["kind"] == "reference"
    [ref] = placements(m, table=table_name)["placements"]
    assert ref["kind"] == "reference" and ref["nodes"] == [1, 2, 3]

    r = m.psql("SELECT mosaic.create_reference_table('no_such_table')")
    assert r.returncode != 0
    assert 'relation "no_such_table" does not exist' in r.stderr


def run_cli(m, *args):
    return subprocess.run([harness.MOSAIC_BIN, "layout", *args,
                           "--admin", f"{m.host}:{m.admin_port}"],
                          capture_output=True, text=True, timeout=60)


def test_cli_sets_and_shows_layouts(m, table_name):
    ddl(m, f"CREATE TABLE {table_name} (tenant_id int8, created timestamptz)")
    r = run_cli(m, "set", "--table", table_name, "--tenant", "5", "--column", "created",
                "--range", "2024-01-01 00:00:00+00:1", "--range", ":2")
    assert r.returncode == 0, r.stderr
    assert "shard map version" in r.stdout
    r = run_cli(m, "show", "--table", table_name, "--tenant", "5")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split()[:4] == ["TABLES", "TENANT", "KIND", "COLUMN"]
    assert len(lines) == 4, r.stdout
    assert f"public.{table_name}" in lines[2] and "(-infinity, 2024-01-01 00:00:00+00)" in lines[2]
    assert lines[3].split()[-2:][0] == "2"

    r = run_cli(m, "set", "--table", table_name, "--column", "created", "--range", ":1")
    assert r.returncode == 1
    assert "HTTP 400: tenant: " in r.stderr
