"""DDL inside a transaction block, through Mosaic over 2 nodes, with distributed tables (a
tenant_id column) present, as schema migration tools run it (Flyway, Alembic, Rails: CREATE and
ALTER, then seed rows, in one transaction).

Mosaic reads the tables again after DDL; its control plane cannot see a block's uncommitted
changes, so the session reads them through the block's own connection for the rest of the block,
and everyone's map is refreshed when the block ends."""

import psycopg2
import psycopg2.errors
import pytest

from harness import Mosaic, serving

TENANTS = range(1, 9)


@pytest.fixture(scope="module")
def m():
    with serving(Mosaic(nodes=2, name="ddl_tx")) as m:
        c = m.connect()
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("CREATE TABLE ddl_probe (tenant_id int PRIMARY KEY)")
            cur.execute("INSERT INTO ddl_probe VALUES " + ",".join(f"({t})" for t in TENANTS))
        c.close()
        m.home = {}
        for n in m.nodes():
            nc = m.connect_node(n)
            with nc.cursor() as cur:
                cur.execute("SELECT tenant_id FROM ddl_probe")
                for (t,) in cur.fetchall():
                    m.home[t] = n["id"]
            nc.close()
        assert sorted(m.home) == list(TENANTS) and len(set(m.home.values())) == 2, m.home
        yield m


def rows_by_node(m, table):
    out = {}
    for n in m.nodes():
        nc = m.connect_node(n)
        with nc.cursor() as cur:
            cur.execute(f"SELECT tenant_id FROM {table} ORDER BY 1")
            out[n["id"]] = [t for (t,) in cur.fetchall()]
        nc.close()
    return out


def test_a_table_created_in_a_block_is_routed_in_it_and_by_everyone_after_it(m):
    c = m.connect()
    cur = c.cursor()
    cur.execute("CREATE TABLE seeded (tenant_id int NOT NULL, id int NOT NULL, v text, PRIMARY KEY (tenant_id, id))")
    cur.execute("INSERT INTO seeded VALUES " + ",".join(f"({t}, 1, 'v{t}')" for t in TENANTS))
    assert cur.rowcount == len(TENANTS)
    cur.execute("SELECT count(*) FROM seeded")
    assert cur.fetchone() == (len(TENANTS),)
    cur.execute("SELECT v FROM seeded WHERE tenant_id = 3")
    assert cur.fetchall() == [("v3",)]
    c.commit()
    placed = rows_by_node(m, "seeded")
    for t in TENANTS:
        assert t in placed[m.home[t]], f"tenant {t}'s row is not on its home node {m.home[t]}: {placed}"
    # Another client, right after the COMMIT, routes the new table too.
    other = m.connect()
    other.autocommit = True
    with other.cursor() as oc:
        oc.execute("SELECT tenant_id, v FROM seeded WHERE tenant_id = 5")
        assert oc.fetchall() == [(5, "v5")]
        oc.execute("INSERT INTO seeded VALUES (6, 2, 'w')")
        oc.execute("SELECT count(*) FROM seeded")
        assert oc.fetchone() == (len(TENANTS) + 1,)
    other.close()
    c.close()


def test_a_dropped_column_before_the_tenant_column_moves_no_row(m):
    # The map's column list placed a positional INSERT's tenant value: after DROP COLUMN a in the
    # same block, the second value (x) was taken for the tenant and rows went to other nodes,
    # where reads by tenant did not find them.
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute("CREATE TABLE shifted (a int, tenant_id int NOT NULL, x int)")
    c.autocommit = False
    cur.execute("ALTER TABLE shifted DROP COLUMN a")
    for t in TENANTS:
        cur.execute(f"INSERT INTO shifted VALUES ({t}, {100 + t})")
    c.commit()
    placed = rows_by_node(m, "shifted")
    for t in TENANTS:
        assert t in placed[m.home[t]], f"tenant {t}'s row is not on its home node {m.home[t]}: {placed}"
        cur.execute(f"SELECT x FROM shifted WHERE tenant_id = {t}")
        assert cur.fetchall() == [(100 + t,)], t
    c.commit()
    c.close()


def test_a_rolled_back_blocks_table_is_gone_for_everyone(m):
    c = m.connect()
    cur = c.cursor()
    cur.execute("CREATE TABLE undone (tenant_id int, v int)")
    cur.execute("INSERT INTO undone VALUES (1, 1), (2, 2)")
    c.rollback()
    other = m.connect()
    other.autocommit = True
    with other.cursor() as oc:
        with pytest.raises(psycopg2.errors.UndefinedTable):
            oc.execute("SELECT * FROM undone")
        # and a table of that name can be created and used again
        oc.execute("CREATE TABLE undone (tenant_id int, w text)")
        oc.execute("INSERT INTO undone VALUES (1, 'a'), (2, 'b')")
        oc.execute("SELECT w FROM undone WHERE tenant_id = 2")
        assert oc.fetchall() == [("b",)]
    other.close()
    c.close()


def test_ddl_over_the_extended_protocol_in_a_block_begun_on_another_node(m):
    """JDBC, psycopg 3 and node-postgres send DDL as Parse/Bind/Execute/Sync. In a block whose
    first statement ran on node 2, the DDL must still reach every node once."""
    from pgwire import PgConn, bind_msg, execute_msg, parse_msg, sync_msg

    tenant = next(t for t in TENANTS if m.home[t] != min(m.home.values()))  # off the default node
    c = PgConn("127.0.0.1", m.port)
    c.startup()
    c.simple("BEGIN")
    c.simple(f"SELECT * FROM ddl_probe WHERE tenant_id = {tenant}")
    c.send(parse_msg("", "CREATE TABLE ext_made (tenant_id int NOT NULL, v int)") + bind_msg("", "") +
           execute_msg() + sync_msg())
    r = c.read_until_ready()
    assert not r.errors and r.tags == ["CREATE TABLE"], (r.errors, r.tags)
    r = c.simple("COMMIT")
    assert not r.errors and r.tags == ["COMMIT"], (r.errors, r.tags)
    c.close()
    for n in m.nodes():
        nc = m.connect_node(n)
        with nc.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_class WHERE relname = 'ext_made'")
            assert cur.fetchone() == (1,), f"node {n['id']}"
        nc.close()
    d = m.connect()
    d.autocommit = True
    d.cursor().execute("DROP TABLE ext_made")
    d.close()


def test_truncate_over_the_extended_protocol_empties_every_node(m):
    """TRUNCATE sent as Parse/Bind/Execute/Sync (JDBC, psycopg 3) was run on one node only: the
    client got TRUNCATE TABLE and the other node kept its rows."""
    from pgwire import PgConn, bind_msg, execute_msg, parse_msg, sync_msg

    d = m.connect()
    d.autocommit = True
    d.cursor().execute("CREATE TABLE trunc_me (tenant_id int NOT NULL, v int)")
    d.cursor().execute("INSERT INTO trunc_me VALUES " + ",".join(f"({t}, 1)" for t in TENANTS))
    assert all(rows_by_node(m, "trunc_me").values())
    c = PgConn("127.0.0.1", m.port)
    c.startup()
    c.send(parse_msg("", "TRUNCATE trunc_me") + bind_msg("", "") + execute_msg() + sync_msg())
    r = c.read_until_ready()
    assert not r.errors and r.tags == ["TRUNCATE TABLE"], (r.errors, r.tags)
    c.close()
    assert rows_by_node(m, "trunc_me") == {n["id"]: [] for n in m.nodes()}
    d.cursor().execute("DROP TABLE trunc_me")
    d.close()


def test_a_notice_of_ddl_run_on_every_node_comes_once(m):
    # Each node ran the DDL and said "... does not exist, skipping": the client got that notice
    # once per node (twice here) where PostgreSQL gives it once.
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    once = {
        "DROP TABLE IF EXISTS no_such_table": 'table "no_such_table" does not exist, skipping',
        "CREATE TABLE IF NOT EXISTS ddl_probe (tenant_id int)": 'relation "ddl_probe" already exists, skipping',
        "ALTER TABLE ddl_probe DROP COLUMN IF EXISTS no_col": 'column "no_col" of relation "ddl_probe" does not exist',
        "DROP INDEX IF EXISTS no_such_index": 'index "no_such_index" does not exist, skipping',
    }
    for sql, text in once.items():
        del c.notices[:]
        cur.execute(sql)
        assert len(c.notices) == 1 and text in c.notices[0], (sql, c.notices)
    c.autocommit = False
    del c.notices[:]
    cur.execute("DROP TABLE IF EXISTS no_such_table")
    c.commit()
    assert len(c.notices) == 1, c.notices
    # A notice a statement raises per row still comes per row, from whichever node has the row.
    c.autocommit = True
    cur.execute("CREATE FUNCTION say_tenant(t int) RETURNS int LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE NOTICE 'tenant %', t; RETURN t; END $$")
    del c.notices[:]
    cur.execute("SELECT say_tenant(tenant_id) FROM ddl_probe")
    assert len(cur.fetchall()) == len(TENANTS)
    assert sorted(c.notices) == sorted(f"NOTICE:  tenant {t}\n" for t in TENANTS), c.notices
    cur.execute("DROP FUNCTION say_tenant(int)")
    c.close()


def on_every_node(m, sql):
    """`sql`'s first row on each node, by node id."""
    out = {}
    for n in m.nodes():
        nc = m.connect_node(n)
        with nc.cursor() as cur:
            cur.execute(sql)
            out[n["id"]] = cur.fetchone()
        nc.close()
    return out


# A schema file sent as one query string (node-postgres' client.query(file), psycopg2's execute,
# psql -c "$(cat schema.sql)"): pg_dump's settings, DDL, then seed rows of the new table. Refused
# with 0A000 ("mixing schema changes (DDL) with other statements") before this test.
SCHEMA_FILE = """
SET statement_timeout = 0;
SET client_min_messages = warning;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE TABLE public.filed (tenant_id integer NOT NULL, id integer NOT NULL, v text);
CREATE SEQUENCE public.filed_id_seq;
ALTER TABLE ONLY public.filed ALTER COLUMN id SET DEFAULT nextval('public.filed_id_seq');
ALTER TABLE ONLY public.filed ADD CONSTRAINT filed_pkey PRIMARY KEY (tenant_id, id);
CREATE INDEX filed_v ON public.filed USING btree (v);
COMMENT ON TABLE public.filed IS 'from a schema file';
INSERT INTO public.filed (tenant_id, v) VALUES {rows};
SELECT count(*), count(DISTINCT tenant_id) FROM public.filed;
"""


def test_a_schema_file_as_one_string_runs_ddl_on_every_node_and_routes_its_rows(m):
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute(SCHEMA_FILE.format(rows=", ".join(f"({t}, 'v{t}')" for t in TENANTS)))
    assert cur.fetchall() == [(len(TENANTS), len(TENANTS))]  # the last statement's rows
    cur.execute("SHOW search_path")  # a set_config(..., false) of the string outlives it
    assert cur.fetchall() == [("",)]
    c.close()
    assert on_every_node(m, "SELECT obj_description('public.filed'::regclass), "
                            "(SELECT count(*) FROM pg_indexes WHERE tablename = 'filed')") == \
        {n["id"]: ("from a schema file", 2) for n in m.nodes()}
    # Each tenant's row is on its home node, and a new session routes the table.
    assert rows_by_node(m, "filed") == {n: sorted(t for t in TENANTS if m.home[t] == n) for n in set(m.home.values())}
    other = m.connect()
    other.autocommit = True
    with other.cursor() as oc:
        oc.execute("SELECT v FROM filed WHERE tenant_id = 5")
        assert oc.fetchall() == [("v5",)]
        oc.execute("DROP TABLE filed; DROP SEQUENCE filed_id_seq")
    other.close()


def test_a_failing_string_of_ddl_and_rows_leaves_nothing_on_any_node(m):
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    with pytest.raises(psycopg2.errors.DivisionByZero):
        cur.execute("CREATE TABLE filed_bad (tenant_id int, v int); "
                    "INSERT INTO filed_bad VALUES " + ",".join(f"({t}, {t})" for t in TENANTS) + "; SELECT 1 / 0")
    cur.execute("SELECT 1")  # the session goes on
    assert cur.fetchall() == [(1,)]
    c.close()
    assert on_every_node(m, "SELECT to_regclass('public.filed_bad') IS NULL") == {n["id"]: (True,) for n in m.nodes()}


def test_a_ddl_string_failing_on_one_node_changes_none(m):
    # A string of DDL only went to each node whole, each in its own transaction: node 1 kept the
    # first table when node 2 failed the second. Now statement by statement, committed together.
    nodes = sorted(m.nodes(), key=lambda n: n["id"])
    nc = m.connect_node(nodes[1])
    nc.autocommit = True
    nc.cursor().execute("CREATE TABLE filed_clash (a int)")  # on the second node only
    try:
        c = m.connect()
        c.autocommit = True
        with pytest.raises(psycopg2.errors.DuplicateTable):
            c.cursor().execute("CREATE TABLE filed_first (a int); CREATE TABLE filed_clash (a int)")
        c.close()
        assert on_every_node(m, "SELECT to_regclass('public.filed_first') IS NULL") == \
            {n["id"]: (True,) for n in nodes}
        assert on_every_node(m, "SELECT count(*) FROM pg_prepared_xacts") == {n["id"]: (0,) for n in nodes}
    finally:
        nc.cursor().execute("DROP TABLE filed_clash")
        nc.close()


def test_a_string_of_ddl_and_rows_in_the_clients_block_rolls_back_with_it(m):
    c = m.connect()
    cur = c.cursor()  # psycopg2 opens the block
    cur.execute("CREATE TABLE filed_block (tenant_id int NOT NULL, v int); "
                "INSERT INTO filed_block VALUES " + ",".join(f"({t}, {t})" for t in TENANTS))
    cur.execute("SELECT count(*), sum(v) FROM filed_block")
    assert cur.fetchall() == [(len(TENANTS), sum(TENANTS))]
    cur.execute("SELECT v FROM filed_block WHERE tenant_id = 6")  # routed by the block's own table
    assert cur.fetchall() == [(6,)]
    c.rollback()
    c.close()
    assert on_every_node(m, "SELECT to_regclass('public.filed_block') IS NULL") == {n["id"]: (True,) for n in m.nodes()}


def test_ddl_of_temporary_tables_with_other_statements_is_still_refused(m):
    c = m.connect()
    c.autocommit = True
    with pytest.raises(psycopg2.errors.FeatureNotSupported) as e:
        c.cursor().execute("CREATE TEMP TABLE filed_tmp (a int); INSERT INTO filed_tmp VALUES (1)")
    assert "DDL not of temporary tables" in str(e.value)
    c.close()
