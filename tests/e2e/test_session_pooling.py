"""A client's settings over several nodes, in session pooling (`--pool-mode session`: a client
keeps every server connection it opened for its whole session) and in transaction pooling: a SET
holds for the client's statements on every node, sent alone, in a query string, over the
extended protocol (also in a batch whose statements ran on several nodes) or inside a block,
and so does a transaction's SELECT set_config(..., true) (PostgREST). Before, in session
pooling a SET reached only the node it ran on: the others kept the defaults for the whole
session."""

import pytest

from harness import Mosaic, serving
from pgwire import PgConn, bind_msg, describe_msg, execute_msg, parse_msg, sync_msg

IDS = (500, 1500, 2500)  # one row on each node


@pytest.fixture(scope="module")
def session_mosaic():
    with serving(Mosaic(nodes=3, name="session", extra_args=["--pool-mode", "session"])) as m:
        yield m


def split_table(m, table):
    c = m.connect()
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (tenant_id int NOT NULL, id int NOT NULL, PRIMARY KEY (tenant_id, id))")
        m.split_by_id(table, "1")
        cur.execute(f"INSERT INTO {table} VALUES " + ", ".join(f"(1, {i})" for i in IDS))
    c.close()


def work_mem_by_node(table):
    return f"SELECT id, current_setting('work_mem') FROM {table} WHERE tenant_id = 1 ORDER BY id"


def test_settings_hold_on_every_node_in_session_pooling(session_mosaic, table_name):
    m = session_mosaic
    split_table(m, table_name)
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    q = work_mem_by_node(table_name)

    def seen():
        cur.execute(q)
        return [w for _, w in cur.fetchall()]

    try:
        assert seen() == ["4MB"] * 3  # every node linked now: the session keeps them
        cur.execute("SET work_mem = '7MB'")
        assert seen() == ["7MB"] * 3
        c.autocommit = False
        cur.execute("SET work_mem = '8MB'")
        assert seen() == ["8MB"] * 3
        c.commit()
        assert seen() == ["8MB"] * 3
        cur.execute("SET work_mem = '9MB'")
        c.rollback()
        assert seen() == ["8MB"] * 3
        c.rollback()
        c.autocommit = True
        cur.execute("SET work_mem = '10MB'; SELECT 1")
        assert seen() == ["10MB"] * 3
        cur.execute("RESET ALL")
        assert seen() == ["4MB"] * 3
    finally:
        c.close()

    w = PgConn(m.host, m.port)
    try:
        w.startup()

        def extended(sql):
            w.send(parse_msg("", sql) + bind_msg("", "") + execute_msg() + sync_msg())
            r = w.read_until_ready()
            assert r.errors == [], r.errors
            return r

        assert [row[1] for row in extended(q).rows] == ["4MB"] * 3
        assert extended("SET work_mem = '11MB'").tags == ["SET"]
        assert [row[1] for row in extended(q).rows] == ["11MB"] * 3
    finally:
        w.close()


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_a_set_in_a_batch_over_several_nodes_follows_its_client(request, pool_mode, table_name):
    # JDBC sends a SET and the statements after it in one batch when the application batches
    # them; here the batch's next statement reads node 3. Such a SET lasted only to the end of
    # that batch's transaction (on the binary before this test: 4MB again on the next read).
    m = request.getfixturevalue("mosaic" if pool_mode == "transaction" else "session_mosaic")
    split_table(m, table_name)
    w = PgConn(m.host, m.port)
    try:
        w.startup()
        w.send(parse_msg("", "SET work_mem = '12MB'") + bind_msg("", "") + execute_msg()
               + parse_msg("", f"SELECT current_setting('work_mem') FROM {table_name} WHERE tenant_id = 1 AND id = 2500")
               + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert r.errors == [] and r.tags == ["SET", "SELECT 1"] and r.status == "I", (r.errors, r.tags)
        # Within the batch too, as on one PostgreSQL (before: node 3 read 4MB, the SET ran on
        # node 1 only until the batch's Sync).
        assert r.rows == [["12MB"]], r.rows
        r = w.simple(work_mem_by_node(table_name))
        assert [row[1] for row in r.rows] == ["12MB"] * 3, r.rows
        # Node 3 ran the SET too; the batch then fails on node 1: rolled back whole, on node 3 too.
        w.send(parse_msg("", "SET work_mem = '14MB'") + bind_msg("", "") + execute_msg()
               + parse_msg("", f"SELECT current_setting('work_mem') FROM {table_name} WHERE tenant_id = 1 AND id = 2500")
               + bind_msg("", "") + execute_msg()
               + parse_msg("", f"SELECT 1 / (id - 500) FROM {table_name} WHERE tenant_id = 1 AND id = 500")
               + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert r.rows == [["14MB"]] and [e["C"] for e in r.errors] == ["22012"], (r.rows, r.errors)
        r = w.simple(work_mem_by_node(table_name))
        assert [row[1] for row in r.rows] == ["12MB"] * 3, r.rows
        # A statement over several nodes after the SET in one batch is refused (its nodes would
        # run it without the SET); nothing of the batch holds.
        w.send(parse_msg("", "SET work_mem = '15MB'") + bind_msg("", "") + execute_msg()
               + parse_msg("", work_mem_by_node(table_name)) + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert [e["C"] for e in r.errors] == ["0A000"] and "after a SET" in r.errors[0]["M"], r.errors
        r = w.simple(work_mem_by_node(table_name))
        assert [row[1] for row in r.rows] == ["12MB"] * 3, r.rows
        # A batch that fails is rolled back whole, its SET too.
        w.send(parse_msg("", "SET work_mem = '13MB'") + bind_msg("", "") + execute_msg()
               + parse_msg("", f"SELECT 1 / (id - 2500) FROM {table_name} WHERE tenant_id = 1 AND id = 2500")
               + bind_msg("", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert [e["C"] for e in r.errors] == ["22012"], r.errors
        r = w.simple(work_mem_by_node(table_name))
        assert [row[1] for row in r.rows] == ["12MB"] * 3, r.rows
    finally:
        w.close()


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_a_batch_mosaic_refuses_a_statement_of_leaves_nothing_behind(request, pool_mode, table_name):
    # PostgreSQL runs a batch outside a block as one implicit transaction: an error anywhere in it
    # rolls back what it wrote and SET. An error of Mosaic's own (a statement it refuses) did not
    # reach the node, which committed the batch's part at Sync: the row below landed, and the SET
    # was adopted.
    m = request.getfixturevalue("mosaic" if pool_mode == "transaction" else "session_mosaic")
    split_table(m, table_name)
    w = PgConn(m.host, m.port)
    try:
        w.startup()
        w.send(parse_msg("", "SET work_mem = '16MB'") + bind_msg("", "") + execute_msg()
               + parse_msg("", f"INSERT INTO {table_name} VALUES (1, 700)") + bind_msg("", "") + execute_msg()
               + parse_msg("", f"SELECT * FROM {table_name} FOR UPDATE") + bind_msg("", "") + execute_msg()
               + sync_msg())
        r = w.read_until_ready()
        assert [e["C"] for e in r.errors] == ["0A000"] and r.tags == ["SET", "INSERT 0 1"], (r.errors, r.tags)
        assert r.status == "I"
        r = w.simple(f"SELECT count(*) FROM {table_name} WHERE tenant_id = 1 AND id = 700")
        assert r.rows == [["0"]], r.rows
        r = w.simple(work_mem_by_node(table_name))
        assert [row[1] for row in r.rows] == ["4MB"] * 3, r.rows
    finally:
        w.close()


def test_set_config_in_a_transaction_holds_on_every_node(mosaic, table_name):
    # PostgREST (and apps like it) set request settings with SELECT set_config(..., true) at
    # the start of each transaction, over the extended protocol, and row-level security policies
    # read them with current_setting: on the binary before this test only the node the
    # set_config ran on had them (NULL on the nodes of ids 1500 and 2500).
    split_table(mosaic, table_name)
    q = (f"SELECT id, current_setting('request.jwt.claims', true) FROM {table_name} "
         f"WHERE tenant_id = 1 ORDER BY id")
    w = PgConn(mosaic.host, mosaic.port)
    try:
        w.startup()
        for claims in ('{"sub": "a"}', '{"sub": "b"}'):
            assert w.simple("BEGIN").status == "T"
            w.send(parse_msg("", "SELECT set_config('request.jwt.claims', $1, true), set_config('role', 'mosaic', true)")
                   + bind_msg("", "", (claims,)) + describe_msg("P", "") + execute_msg() + sync_msg())
            r = w.read_until_ready()
            assert r.errors == [] and r.rows == [[claims, "mosaic"]] and r.status == "T", (r.errors, r.rows)
            w.send(parse_msg("", q) + bind_msg("", "") + execute_msg() + sync_msg())
            r = w.read_until_ready()
            assert r.errors == [] and r.rows == [[str(i), claims] for i in IDS], r.rows
            assert w.simple("COMMIT").status == "I"
        # is_local: gone after the transaction, on every node.
        r = w.simple(q)
        assert [row[1] for row in r.rows] in ([None] * 3, [""] * 3), r.rows
        # Over the simple protocol, after a node already joined the block.
        assert w.simple("BEGIN").status == "T"
        assert w.simple(f"SELECT 1 FROM {table_name} WHERE tenant_id = 1 AND id = 2500").rows == [["1"]]
        r = w.simple("SELECT set_config('request.jwt.claims', 'c', true)")
        assert r.errors == [] and r.rows == [["c"]] and r.tags == ["SELECT 1"], (r.errors, r.rows, r.tags)
        r = w.simple(q)
        assert r.rows == [[str(i), "c"] for i in IDS], r.rows
        # A value every node refuses: its own reply's error, once (none from the other nodes).
        w.send(parse_msg("", "SELECT set_config('work_mem', $1, true)") + bind_msg("", "", ("bogus",))
               + describe_msg("P", "") + execute_msg() + sync_msg())
        r = w.read_until_ready()
        assert [e["C"] for e in r.errors] == ["22023"] and r.types() == "12TEZ", (r.errors, r.types())
        assert w.simple("ROLLBACK").status == "I"
    finally:
        w.close()


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_set_config_outside_a_block_holds_on_every_node(request, pool_mode, table_name):
    # Row-level security over several nodes: the tenant set with set_config(..., false) must be
    # seen by the client's statements on every node (on the binary before this test: only on
    # the node it ran on, '' or NULL on the others).
    m = request.getfixturevalue("mosaic" if pool_mode == "transaction" else "session_mosaic")
    split_table(m, table_name)
    q = f"SELECT id, current_setting('app.tenant', true) FROM {table_name} WHERE tenant_id = 1 ORDER BY id"
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    try:
        cur.execute("SELECT set_config('app.tenant', 'acme', false), set_config('work_mem', '5MB', false)")
        assert cur.fetchall() == [("acme", "5MB")]
        cur.execute(q)
        assert [t for _, t in cur.fetchall()] == ["acme"] * 3
        cur.execute(work_mem_by_node(table_name))
        assert [w for _, w in cur.fetchall()] == ["5MB"] * 3
        cur.execute("SET app.tenant = 'initech'")
        cur.execute(q)
        assert [t for _, t in cur.fetchall()] == ["initech"] * 3
    finally:
        c.close()
    w = PgConn(m.host, m.port)
    try:
        w.startup()
        r = w.extended("SELECT set_config($1, $2, false)", ("app.tenant", "globex"))
        assert r.errors == [] and r.rows == [["globex"]], (r.errors, r.rows)
        r = w.simple(q)
        assert [row[1] for row in r.rows] == ["globex"] * 3, r.rows
    finally:
        w.close()


@pytest.mark.parametrize("pool_mode", ["transaction", "session"])
def test_session_characteristics_follow_their_client(request, pool_mode, table_name):
    # JDBC's Connection.setTransactionIsolation and setReadOnly with autocommit on send SET
    # SESSION CHARACTERISTICS AS TRANSACTION over the extended protocol. On the binary before
    # this test they held on one server connection only: the client's next transactions on the
    # other nodes (or on the next server it borrowed) ran read committed and read-write.
    m = request.getfixturevalue("mosaic" if pool_mode == "transaction" else "session_mosaic")
    split_table(m, table_name)
    q = (f"SELECT id, current_setting('transaction_isolation'), current_setting('transaction_read_only') "
         f"FROM {table_name} WHERE tenant_id = 1 ORDER BY id")
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    try:
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute(q)
        assert [(i, r) for _, i, r in cur.fetchall()] == [("repeatable read", "off")] * 3
    finally:
        c.close()
    w = PgConn(m.host, m.port)
    try:
        w.startup()
        r = w.extended("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY")
        assert r.errors == [] and r.tags == ["SET"], (r.errors, r.tags)
        r = w.simple(q)
        assert [row[1:] for row in r.rows] == [["serializable", "on"]] * 3, r.rows
        r = w.simple(f"INSERT INTO {table_name} VALUES (1, 2600)")  # node 3
        assert [e["C"] for e in r.errors] == ["25006"], r.errors
    finally:
        w.close()


def test_reset_all_in_a_block_holds_after_it(mosaic, table_name):
    # On the binary before this test a RESET ALL inside a block was not read back at COMMIT:
    # the client's earlier SET came back on the next servers it borrowed ('7MB' on every node).
    split_table(mosaic, table_name)
    c = mosaic.connect()
    c.autocommit = True
    cur = c.cursor()
    try:
        cur.execute("SET work_mem = '7MB'")
        cur.execute("BEGIN")
        cur.execute("RESET ALL")
        cur.execute("SET statement_timeout = '9s'")
        cur.execute("COMMIT")
        cur.execute(work_mem_by_node(table_name))
        assert [w for _, w in cur.fetchall()] == ["4MB"] * 3
        cur.execute("SHOW statement_timeout")
        assert cur.fetchone()[0] == "9s"
    finally:
        c.close()
