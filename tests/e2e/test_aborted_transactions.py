"""A transaction that an error aborted behaves as in PostgreSQL: every later statement fails with
25P02 until ROLLBACK, COMMIT (answered ROLLBACK) or ROLLBACK TO SAVEPOINT, over the simple and
the extended protocol.

Differential: each script runs through Mosaic and on the node directly, and the replies must
match (message types, command tags, SQLSTATEs, transaction status). Then the same scripts with
the error raised by Mosaic itself instead of by the node (a query string mixing DDL of a
temporary table with other statements, refused with 0A000 before any node sees it, so the node's
transaction would go on): the client must see the same, only the first error's SQLSTATE
differs, and nothing of the aborted transaction may be committed.
"""

import psycopg2
import pytest

from pgwire import PgConn, bind_msg, execute_msg, parse_msg, query_msg, sync_msg

NODE_ERROR = "SELECT 1/0"  # 22012 on the node
MOSAIC_ERROR = "CREATE TEMP TABLE never_made (a int); SELECT 1"  # 0A000 from Mosaic


def q(sql):
    return ("Q", sql)


def x(sql):
    """The extended protocol, as JDBC and psycopg 3 send a statement: unnamed Parse, Bind,
    Execute, Sync."""
    return ("X", sql)


def script_reply(conn, steps, table, error):
    """Runs the steps; per step: (its template, message types, command tags, SQLSTATEs, status, rows)."""
    out = []
    for kind, template in steps:
        sql = template.format(t=table, error=error)
        if kind == "Q":
            conn.send(query_msg(sql))
        else:
            conn.send(parse_msg("", sql) + bind_msg("", "") + execute_msg() + sync_msg())
        r = conn.read_until_ready()
        out.append((f"{kind} {template}", r.types(), r.tags, [e["C"] for e in r.errors], r.status, r.rows))
    return out


SCRIPTS = {
    "simple": [q("BEGIN"), q("INSERT INTO {t} VALUES (1)"), q("{error}"), q("INSERT INTO {t} VALUES (2)"),
               q("SELECT 1"), q("SHOW TimeZone"), q("SAVEPOINT s"), q("COMMIT"), q("SELECT count(*) FROM {t}")],
    "extended commit": [q("BEGIN"), q("INSERT INTO {t} VALUES (1)"), q("{error}"), x("SELECT 1"), x("COMMIT"),
                        q("SELECT count(*) FROM {t}")],
    "extended": [x("BEGIN"), x("INSERT INTO {t} VALUES (1)"), q("{error}"), x("INSERT INTO {t} VALUES (2)"),
                 x("ROLLBACK"), q("SELECT count(*) FROM {t}")],
    "rollback to savepoint": [q("BEGIN"), q("INSERT INTO {t} VALUES (1)"), q("SAVEPOINT s"), q("{error}"),
                              q("INSERT INTO {t} VALUES (9)"), q("ROLLBACK TO SAVEPOINT s"),
                              q("INSERT INTO {t} VALUES (2)"), q("COMMIT"), q("SELECT count(*) FROM {t}")],
    # The block fails at COMMIT (a deferred unique constraint): an error, no COMMIT tag, idle.
    "deferred failure at commit": [q("BEGIN"), q("INSERT INTO {t} VALUES (1)"), q("INSERT INTO {t} VALUES (1)"),
                                   q("COMMIT"), q("SELECT count(*) FROM {t}")],
    "extended deferred failure at commit": [x("BEGIN"), x("INSERT INTO {t} VALUES (1)"),
                                            x("INSERT INTO {t} VALUES (1)"), x("COMMIT"),
                                            q("SELECT count(*) FROM {t}")],
    # Savepoints over the extended protocol are run by Mosaic on every node of the transaction:
    # its command tags must be PostgreSQL's.
    "extended savepoints": [x("BEGIN"), x("INSERT INTO {t} VALUES (1)"), x("SAVEPOINT s"),
                            x("INSERT INTO {t} VALUES (2)"), x("RELEASE SAVEPOINT s"), x("SAVEPOINT t"),
                            q("{error}"), x("INSERT INTO {t} VALUES (9)"), x("ROLLBACK TO SAVEPOINT t"),
                            x("INSERT INTO {t} VALUES (3)"), x("RELEASE t"), x("COMMIT"),
                            q("SELECT count(*) FROM {t}")],
    # Transaction commands that change nothing: PostgreSQL warns (25P01, 25001) and answers the
    # tag; START TRANSACTION has its own tag.
    "commands that change nothing": [q("COMMIT"), q("ROLLBACK"), q("BEGIN"), q("BEGIN"),
                                     q("INSERT INTO {t} VALUES (1)"), q("COMMIT"), q("START TRANSACTION"),
                                     q("START TRANSACTION ISOLATION LEVEL SERIALIZABLE"), q("COMMIT"),
                                     x("COMMIT"), x("ROLLBACK"), x("BEGIN"), x("BEGIN"), x("ROLLBACK"),
                                     x("START TRANSACTION"), x("COMMIT"), q("SELECT count(*) FROM {t}")],
    # COMMIT of a block aborted before it ran anything on a node answers ROLLBACK.
    "aborted first": [q("BEGIN"), q("{error}"), q("SELECT 1"), q("COMMIT"), q("SELECT count(*) FROM {t}")],
    "extended rollback to savepoint": [q("BEGIN"), q("INSERT INTO {t} VALUES (1)"), q("SAVEPOINT s"), q("{error}"),
                                       x("ROLLBACK TO s"), x("INSERT INTO {t} VALUES (2)"), x("COMMIT"),
                                       q("SELECT count(*) FROM {t}")],
}


def run_script(host, port, steps, table, error, user="mosaic", database="mosaic"):
    c = PgConn(host, port)
    try:
        assert c.startup(user=user, database=database).status == "I"
        return script_reply(c, steps, table, error)
    finally:
        c.close()


def without_first_sqlstate(reply):
    """The reply with the SQLSTATE of the script's error left out (it differs by design when
    Mosaic raises it)."""
    return [(step, types, tags, codes if "{error}" not in step else len(codes), status, rows)
            for step, types, tags, codes, status, rows in reply]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_an_aborted_transaction_as_postgresql_has_it(mosaic, name):
    steps = SCRIPTS[name]
    node = sorted(mosaic.nodes(), key=lambda n: n["id"])[0]  # the single-tenant tables' node
    admin = mosaic.connect()
    admin.autocommit = True
    tables = [f"aborted_{name.replace(' ', '_')}_{i}" for i in range(3)]
    with admin.cursor() as cur:
        for t in tables:
            cur.execute(f"DROP TABLE IF EXISTS {t}")
            cur.execute(f"CREATE TABLE {t} (a int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
    try:
        direct = run_script(node["host"], node["port"], steps, tables[0], NODE_ERROR,
                            user=node["user"], database=node["dbname"])
        through = run_script(mosaic.host, mosaic.port, steps, tables[1], NODE_ERROR)
        assert through == direct
        if any("{error}" in step for _, step in steps):
            # The error raised by Mosaic, not by the node: the same for the client, and the
            # node's transaction (which saw no error) must not commit what the client's did
            # before it. (The last step of every script counts the rows committed.)
            own = run_script(mosaic.host, mosaic.port, steps, tables[2], MOSAIC_ERROR)
            first = next(r for r in own if "{error}" in r[0])
            assert first[3] == ["0A000"], first
            assert without_first_sqlstate(own) == without_first_sqlstate(direct)
    finally:
        with admin.cursor() as cur:
            for t in tables:
                cur.execute(f"DROP TABLE {t}")
        admin.close()


# A block over two nodes: a row on node 1 (id 1) and one on node 2 (id 101), then an error. The
# step "(contend)" is where another client updates the block's rows; on PostgreSQL directly
# it does not wait (the aborted transaction's locks went at the error), and through Mosaic it
# must not wait either, although the block's node 1 saw no error.
SPLIT_ERRORS = {
    "node error": "UPDATE {t} SET v = 1/0 WHERE id = 101",  # 22012 on node 2
    "Mosaic error": MOSAIC_ERROR,                            # 0A000: no node saw it
}
SPLIT_SCRIPTS = {
    "commit": [q("BEGIN"), q("UPDATE {t} SET v = v + 1 WHERE id = 1"), q("UPDATE {t} SET v = v + 1 WHERE id = 101"),
               q("{error}"), ("contend", None), q("SELECT v FROM {t} WHERE id = 1"),
               x("UPDATE {t} SET v = v + 1 WHERE id = 101"), q("SAVEPOINT s"), q("COMMIT"),
               q("SELECT id, v FROM {t} ORDER BY id")],
    "rollback": [q("BEGIN"), q("UPDATE {t} SET v = v + 1 WHERE id = 101"), q("UPDATE {t} SET v = v + 1 WHERE id = 1"),
                 q("{error}"), ("contend", None), x("SELECT 1"), q("ROLLBACK"), q("SELECT id, v FROM {t} ORDER BY id")],
    # An extended-protocol read over both nodes that a node refuses at its Parse (a column Mosaic
    # cannot know is missing, as a typo in an ORM's query): the session hung, having sent the
    # failed node a ROLLBACK it skipped while it waited for the batch's Sync.
    "extended parse error": [q("BEGIN"), q("UPDATE {t} SET v = v + 1 WHERE id = 1"),
                             q("UPDATE {t} SET v = v + 1 WHERE id = 101"), x("SELECT nocolumn FROM {t} ORDER BY id"),
                             ("contend", None), x("SELECT 1"), q("ROLLBACK"), q("SELECT id, v FROM {t} ORDER BY id")],
    # With a savepoint the block may go on after ROLLBACK TO SAVEPOINT: nothing is released
    # early (no "(contend)" step), and what it did before the savepoint commits.
    "rollback to savepoint": [q("BEGIN"), q("UPDATE {t} SET v = v + 1 WHERE id = 1"), q("SAVEPOINT s"),
                              q("UPDATE {t} SET v = v + 1 WHERE id = 101"), q("{error}"), q("SELECT 1"),
                              q("ROLLBACK TO SAVEPOINT s"), q("UPDATE {t} SET v = v + 10 WHERE id = 101"),
                              q("COMMIT"), q("SELECT id, v FROM {t} ORDER BY id")],
}


def split_script_reply(conn, steps, table, error, contend):
    out = []
    for kind, template in steps:
        if kind == "contend":
            contend()
            continue
        out += script_reply(conn, [(kind, template)], table, error)
    return out


@pytest.mark.parametrize("error", sorted(SPLIT_ERRORS))
@pytest.mark.parametrize("name", sorted(SPLIT_SCRIPTS))
def test_an_aborted_block_over_two_nodes_releases_its_locks_at_once(mosaic, name, error):
    steps = SPLIT_SCRIPTS[name]
    nodes = sorted(mosaic.nodes(), key=lambda n: n["id"])
    admin = mosaic.connect()
    admin.autocommit = True
    slug = f"{name}_{error}".replace(" ", "_").lower()
    split, plain = f"aborted_split_{slug}", f"aborted_plain_{slug}"
    with admin.cursor() as cur:
        for t in (split, plain):
            cur.execute(f"DROP TABLE IF EXISTS {t}")
            cur.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)")
        status, body = mosaic.admin_post("/api/v1/layout", {
            "tables": [split], "tenant": None, "column": "id",
            "ranges": [{"upper": "100", "node": nodes[0]["id"]}, {"node": nodes[1]["id"]}]})
        assert status == 200, body
        for t in (split, plain):
            cur.execute(f"INSERT INTO {t} VALUES (1, 0), (101, 0)")

    def contender(host, port, table, **kw):
        def contend():
            c = psycopg2.connect(host=host, port=port, connect_timeout=10, **kw)
            c.autocommit = True
            try:
                with c.cursor() as cur:
                    cur.execute("SET statement_timeout = '3s'")
                    cur.execute(f"UPDATE {table} SET v = v + 100 WHERE id IN (1, 101)")
            finally:
                c.close()
        return contend

    try:
        node = nodes[0]
        direct = run_script_with(node["host"], node["port"], steps, plain, SPLIT_ERRORS["node error"],
                                 contender(node["host"], node["port"], plain, user=node["user"], dbname=node["dbname"]),
                                 user=node["user"], database=node["dbname"])
        # On a router that left node 1's transaction open the contender waits for the block's
        # row there and fails with 57014 after 3 s.
        through = run_script_with(mosaic.host, mosaic.port, steps, split, SPLIT_ERRORS[error],
                                  contender(mosaic.host, mosaic.port, split, user="mosaic", dbname="mosaic"))
        if error == "node error":
            assert through == direct
        else:
            assert without_first_sqlstate(through) == without_first_sqlstate(direct)
    finally:
        with admin.cursor() as cur:
            for t in (split, plain):
                cur.execute(f"DROP TABLE {t}")
        admin.close()


def run_script_with(host, port, steps, table, error, contend, user="mosaic", database="mosaic"):
    c = PgConn(host, port)
    try:
        assert c.startup(user=user, database=database).status == "I"
        return split_script_reply(c, steps, table, error, contend)
    finally:
        c.close()
