"""Cursors whose query reads several nodes: Mosaic runs the query at DECLARE (merged, in the
client's transaction) and answers FETCH, MOVE and CLOSE from what it holds. On the binary before
this test every such DECLARE was refused with 0A000 ("DECLARE of a statement on 3 nodes is not
supported"), and a WITH HOLD cursor off the default node too: psycopg2's named cursors, Django's
QuerySet.iterator() and psql's FETCH_COUNT over a split table failed.

Differential: every statement runs through Mosaic (a table split over 3 nodes) and on node 1
directly (the same rows in a plain table); the replies must match.
"""

from decimal import Decimal

import pytest

from harness import Mosaic, serving
from pgwire import PgConn
from test_query_strings import answers_as_postgresql
from test_temp_tables import split_table

SCRIPT = [
    "BEGIN",
    "INSERT INTO {t} VALUES (600, 6), (1600, 16), (2600, 26)",  # seen by the block's cursor
    "DECLARE c CURSOR FOR SELECT id, v FROM {t} ORDER BY id",
    "FETCH 2 FROM c",
    "FETCH 1 FROM c",  # the same shape, another count
    "FETCH FORWARD 1 FROM c",
    "MOVE 1 IN c",
    "FETCH ALL FROM c",
    "FETCH c",  # past the end: no row
    "CLOSE c",
    "FETCH c",  # 34000
    "ROLLBACK",
    # WITH HOLD outside a block: its rows are those at DECLARE.
    "DECLARE h CURSOR WITH HOLD FOR SELECT v FROM {t} WHERE id > 600 ORDER BY v DESC",
    "FETCH 1 FROM h",
    "UPDATE {t} SET v = v + 1",
    "FETCH ALL FROM h",
    "MOVE 5 FROM h",
    "CLOSE h",
    "DECLARE n CURSOR FOR SELECT id FROM {t}",  # 25P01: only in a block
    # A cursor without HOLD ends with its block; one WITH HOLD declared in a block that rolls
    # back goes with it; one that commits stays.
    "BEGIN",
    "DECLARE x CURSOR FOR SELECT id FROM {t} ORDER BY id",
    "DECLARE hx CURSOR WITH HOLD FOR SELECT id FROM {t} ORDER BY id",
    "COMMIT",
    "FETCH x",
    "FETCH hx",
    "BEGIN",
    "DECLARE hr CURSOR WITH HOLD FOR SELECT id FROM {t} ORDER BY id",
    "ROLLBACK",
    "FETCH hr",
    "CLOSE hx",
    # Inside a block the query sees the block's own writes; aggregates are merged.
    "BEGIN",
    "INSERT INTO {t} VALUES (1600, 16), (2600, 26), (1700, 17)",
    "DECLARE a CURSOR FOR SELECT count(*), sum(v) FROM {t}",
    "FETCH ALL FROM a",
    "DECLARE a CURSOR FOR SELECT 1",  # 42P03
    "ROLLBACK",
    # A BINARY cursor: its rows in binary, the bytes PostgreSQL's send functions write.
    "BEGIN",
    "DECLARE b BINARY CURSOR FOR SELECT id, v, v * 0.5 AS half, id::text AS t FROM {t} ORDER BY id",
    "FETCH 2 FROM b",
    "FETCH ALL FROM b",
    "ROLLBACK",
    # SCROLL: every direction, from the rows Mosaic holds, as PostgreSQL moves its cursor.
    "BEGIN",
    "DECLARE s SCROLL CURSOR FOR SELECT id, v FROM {t} ORDER BY id",
    "FETCH LAST FROM s",
    "FETCH PRIOR FROM s",
    "FETCH FIRST FROM s",
    "FETCH ABSOLUTE 2 FROM s",
    "FETCH ABSOLUTE -1 FROM s",
    "FETCH ABSOLUTE 10 FROM s",
    "FETCH PRIOR FROM s",
    "FETCH RELATIVE -1 FROM s",
    "FETCH RELATIVE 0 FROM s",
    "FETCH 0 FROM s",
    "FETCH BACKWARD ALL FROM s",
    "FETCH NEXT FROM s",
    "FETCH -1 FROM s",
    "MOVE LAST IN s",
    "MOVE BACKWARD 2 IN s",
    "FETCH ALL FROM s",
    "MOVE ABSOLUTE 0 IN s",
    "FETCH FORWARD 2 FROM s",
    "MOVE RELATIVE 5 IN s",
    "FETCH BACKWARD 1 FROM s",
    "FETCH RELATIVE 2 FROM s",
    "FETCH ABSOLUTE -4 FROM s",
    "FETCH BACKWARD 2 FROM s",
    "ROLLBACK",
    # NO SCROLL: forward only, as PostgreSQL's (55000).
    "BEGIN",
    "DECLARE ns NO SCROLL CURSOR FOR SELECT id FROM {t} ORDER BY id",
    "FETCH 2 FROM ns",
    "FETCH PRIOR FROM ns",
    "ROLLBACK",
    # SCROLL WITH HOLD, after its block.
    "DECLARE hs SCROLL CURSOR WITH HOLD FOR SELECT v FROM {t} ORDER BY v",
    "FETCH LAST FROM hs",
    "FETCH ABSOLUTE 1 FROM hs",
    "FETCH RELATIVE 1 FROM hs",
    "CLOSE hs",
    "SELECT id, v FROM {t} ORDER BY id",
]


@pytest.fixture(scope="module")
def cursors_mosaic():
    with serving(Mosaic(nodes=3, name="cursors")) as m:
        yield m


def test_cursors_over_several_nodes_answer_as_postgresql(cursors_mosaic):
    answers_as_postgresql(cursors_mosaic, "cur_split", SCRIPT)


def test_a_binary_cursor_describes_its_columns_in_binary(cursors_mosaic):
    # Over the simple protocol a FETCH of a BINARY cursor sends its RowDescription with format
    # code 1 and binary values (int4: 4 bytes); a column of a type Mosaic cannot send in binary
    # fails the FETCH with 0A000 and the session goes on.
    m = cursors_mosaic
    split_table(m, "cur_binary")
    c = PgConn(m.host, m.port)
    try:
        c.startup()
        assert c.simple("BEGIN").errors == []
        assert c.simple("DECLARE b BINARY CURSOR FOR SELECT id FROM cur_binary ORDER BY id").errors == []
        r = c.simple("FETCH 1 FROM b")
        assert not r.errors, r.errors
        desc = next(p for t, p in r.messages if t == "T")
        assert desc[-2:] == b"\x00\x01", desc  # the one column's format code
        assert r.rows == [[(500).to_bytes(4, "big")]], r.rows
        assert c.simple("DECLARE i BINARY CURSOR FOR SELECT make_interval(days => id) FROM cur_binary").errors == []
        r = c.simple("FETCH 1 FROM i")
        assert [e["C"] for e in r.errors] == ["0A000"] and "interval" in r.errors[0]["M"], r.errors
        assert c.simple("ROLLBACK").errors == []
        assert c.simple("SELECT 1").rows == [["1"]]
    finally:
        c.close()


def test_what_a_held_cursor_cannot_do_is_refused(cursors_mosaic):
    m = cursors_mosaic
    split_table(m, "cur_refused")
    c = PgConn(m.host, m.port)
    try:
        c.startup()
        # A cursor declared without SCROLL or NO SCROLL: PostgreSQL lets it go back when its plan
        # can; Mosaic holds the rows, so it always can.
        assert c.simple("BEGIN").errors == []
        assert c.simple("DECLARE f CURSOR FOR SELECT id FROM cur_refused ORDER BY id").errors == []
        assert c.simple("FETCH 2 FROM f").rows == [["500"], ["1500"]]
        r = c.simple("FETCH BACKWARD 1 FROM f")
        assert r.errors == [] and r.rows == [["500"]], r.errors
        assert c.simple("ROLLBACK").errors == []
        # The query runs at DECLARE: its error comes there (PostgreSQL: at the first FETCH that
        # reaches the row), and aborts the block as it would.
        assert c.simple("BEGIN").errors == []
        r = c.simple("DECLARE e CURSOR FOR SELECT id / (id - 1500) FROM cur_refused ORDER BY id")
        assert [e["C"] for e in r.errors] == ["22012"] and r.status == "E", r.errors
        assert [e["C"] for e in c.simple("FETCH e").errors] == ["25P02"]
        assert c.simple("ROLLBACK").errors == []
    finally:
        c.close()


def test_psycopg2_named_cursors_and_psql_fetch_count(cursors_mosaic):
    m = cursors_mosaic
    split_table(m, "cur_clients")
    c = m.connect()
    try:
        c.cursor().execute("INSERT INTO cur_clients SELECT g, g FROM generate_series(1, 2999, 7) g "
                           "ON CONFLICT DO NOTHING")
        c.commit()
        expected = sorted({500, 1500, 2500} | set(range(1, 3000, 7)))
        # A named cursor in a transaction (DECLARE ... WITHOUT HOLD, FETCH FORWARD itersize).
        named = c.cursor(name="psy_named")
        named.itersize = 50
        named.execute("SELECT id FROM cur_clients ORDER BY id")
        assert [r[0] for r in named] == expected
        named.close()
        c.commit()
        # WITH HOLD in autocommit, as Django's QuerySet.iterator() declares it.
        c.autocommit = True
        held = c.cursor(name="psy_held", withhold=True)
        held.itersize = 100
        held.execute("SELECT id, v FROM cur_clients WHERE id % 2 = 1 ORDER BY id DESC")
        assert [r[0] for r in held] == [i for i in reversed(expected) if i % 2 == 1]
        held.close()
    finally:
        c.close()
    r = m.psql("SELECT id FROM cur_clients ORDER BY id", args=["-v", "FETCH_COUNT=40"])
    assert r.returncode == 0, r.stderr
    assert [int(x) for x in r.stdout.split()] == expected


def test_psycopg3_server_cursors_over_the_extended_protocol(cursors_mosaic):
    # psycopg 3 (Django 4.2+ and SQLAlchemy 2 with it) declares a named cursor over the extended
    # protocol with its parameters bound, describes it as a portal by its name, and FETCHes over
    # the extended protocol. On the binary before this test every such DECLARE over a split
    # table was refused, one on a single node too (a parameter decides its node).
    import psycopg

    m = cursors_mosaic
    split_table(m, "cur_pg3")
    setup = m.connect()
    setup.autocommit = True
    setup.cursor().execute("INSERT INTO cur_pg3 SELECT g, g * 2 FROM generate_series(1, 2999, 11) g "
                           "ON CONFLICT DO NOTHING")
    setup.close()
    ids = sorted({500, 1500, 2500} | set(range(1, 3000, 11)))
    conn = psycopg.connect(host=m.host, port=m.port, user="mosaic", dbname="mosaic", autocommit=False)
    try:
        for low, high in [(0, 10_000), (0, 900), (2100, 2400)]:  # 3 nodes, node 1, node 3
            with conn.transaction():
                cur = conn.cursor(name="pg3_named")
                cur.itersize = 13
                cur.execute("SELECT id, v FROM cur_pg3 WHERE id > %s AND id < %s ORDER BY id", (low, high))
                assert [d.name for d in cur.description] == ["id", "v"]
                rows = list(cur)
                cur.close()
            want = [i for i in ids if low < i < high]
            assert [r[0] for r in rows] == want
            assert all(v == (i if i in (500, 1500, 2500) else 2 * i) for i, v in rows)
        # binary=True: its FETCHes ask binary results over the extended protocol.
        with conn.transaction():
            cur = conn.cursor(name="pg3_binary", binary=True)
            cur.execute("SELECT id, v, v * 0.5 AS half, id::text AS t FROM cur_pg3 WHERE id > %s ORDER BY id", (0,))
            assert [d.name for d in cur.description] == ["id", "v", "half", "t"]
            binary_rows = cur.fetchmany(7) + cur.fetchall()
            cur.close()
        assert [r[0] for r in binary_rows] == ids, binary_rows[:5]
        assert all(half == Decimal(v) / 2 and t == str(i) for i, v, half, t in binary_rows), binary_rows[:5]
        # WITH HOLD in autocommit, fetchmany and scroll forward.
        conn.autocommit = True
        cur = conn.cursor(name="pg3_hold", withhold=True)
        cur.execute("SELECT id FROM cur_pg3 WHERE id %% %s = 0 ORDER BY id DESC", (2,))
        first = cur.fetchmany(3)
        cur.scroll(2)
        rest = cur.fetchall()
        cur.close()
        even = [i for i in reversed(ids) if i % 2 == 0]
        assert [r[0] for r in first] == even[:3] and [r[0] for r in rest] == even[5:]
    finally:
        conn.close()
