"""psycopg2 (libpq) against the shared Mosaic."""

import datetime
import decimal

import psycopg2
import psycopg2.extras
import pytest


def test_parameterised_types(conn):
    cur = conn.cursor()
    ts = datetime.datetime(2024, 2, 29, 23, 59, 58, 123456,
                           tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))
    blob = bytes(range(256)) + b"\x00\xff"
    cur.execute("SELECT %s::int, %s::text, %s::text IS NULL, %s::numeric, %s::timestamptz, %s::bytea",
                (2147483647, "héllo 'quoted' \\ world", None, decimal.Decimal("12345678901234567890.0123456789"),
                 ts, psycopg2.Binary(blob)))
    i, t, isnull, num, got_ts, got_blob = cur.fetchone()
    assert i == 2147483647
    assert t == "héllo 'quoted' \\ world"
    assert isnull is True
    assert num == decimal.Decimal("12345678901234567890.0123456789")
    assert got_ts == ts  # aware datetimes compare by instant
    assert bytes(got_blob) == blob
    cur.execute("SELECT %s, %s", (None, -5))
    assert cur.fetchone() == (None, -5)
    conn.rollback()


def test_parameterised_roundtrip_table(conn, table_name):
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table_name} (id int primary key, name text, amount numeric, "
                "at timestamptz, data bytea)")
    ts = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    cur.execute(f"INSERT INTO {table_name} VALUES (%s, %s, %s, %s, %s)",
                (1, "a", decimal.Decimal("1.50"), ts, psycopg2.Binary(b"\x01\x02")))
    cur.execute(f"INSERT INTO {table_name} VALUES (%s, %s, %s, %s, %s)", (2, None, None, None, None))
    cur.execute(f"SELECT id, name, amount, at, data FROM {table_name} WHERE id = %s", (1,))
    row = cur.fetchone()
    assert row[:4] == (1, "a", decimal.Decimal("1.50"), ts)
    assert bytes(row[4]) == b"\x01\x02"
    cur.execute(f"SELECT id, name, amount, at, data FROM {table_name} WHERE id = %s", (2,))
    assert cur.fetchone() == (2, None, None, None, None)


def test_executemany(conn, table_name):
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table_name} (id int, label text)")
    conn.commit()
    cur.executemany(f"INSERT INTO {table_name} VALUES (%s, %s)",
                    [(i, f"label-{i}") for i in range(500)])
    conn.commit()
    cur.execute(f"SELECT count(*), sum(id), count(DISTINCT label) FROM {table_name}")
    assert cur.fetchone() == (500, sum(range(500)), 500)
    psycopg2.extras.execute_values(cur, f"INSERT INTO {table_name} VALUES %s",
                                   [(1000 + i, None) for i in range(300)], page_size=100)
    conn.commit()
    cur.execute(f"SELECT count(*), count(label) FROM {table_name}")
    assert cur.fetchone() == (800, 500)
    conn.commit()


def test_transaction_commit_and_rollback(mosaic, conn, table_name):
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table_name} (id int)")
    conn.commit()
    cur.execute(f"INSERT INTO {table_name} VALUES (1)")
    cur.execute(f"INSERT INTO {table_name} VALUES (2)")
    conn.commit()
    cur.execute(f"INSERT INTO {table_name} VALUES (3)")
    cur.execute(f"SELECT count(*) FROM {table_name}")
    assert cur.fetchone()[0] == 3  # own uncommitted row visible inside the transaction
    # another client does not see the uncommitted row
    other = mosaic.connect()
    ocur = other.cursor()
    ocur.execute(f"SELECT count(*) FROM {table_name}")
    assert ocur.fetchone()[0] == 2
    other.rollback()
    conn.rollback()
    cur.execute(f"SELECT array_agg(id ORDER BY id) FROM {table_name}")
    assert cur.fetchone()[0] == [1, 2]
    conn.rollback()
    ocur.execute(f"SELECT array_agg(id ORDER BY id) FROM {table_name}")
    assert ocur.fetchone()[0] == [1, 2]
    other.close()


def test_unique_violation_then_usable(conn, table_name):
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table_name} (id int primary key)")
    conn.commit()
    cur.execute(f"INSERT INTO {table_name} VALUES (1)")
    conn.commit()
    with pytest.raises(psycopg2.errors.UniqueViolation) as ei:
        cur.execute(f"INSERT INTO {table_name} VALUES (1)")
    assert ei.value.pgcode == "23505"
    assert ei.value.diag.constraint_name == f"{table_name}_pkey"
    conn.rollback()
    cur.execute(f"INSERT INTO {table_name} VALUES (2)")
    conn.commit()
    cur.execute(f"SELECT array_agg(id ORDER BY id) FROM {table_name}")
    assert cur.fetchone()[0] == [1, 2]
    conn.rollback()


def test_autocommit_mode(mosaic, conn, table_name):
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table_name} (id int)")
    cur.execute(f"INSERT INTO {table_name} VALUES (10)")
    assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    # visible at once to another connection, without any commit
    other = mosaic.connect()
    other.autocommit = True
    ocur = other.cursor()
    ocur.execute(f"SELECT sum(id) FROM {table_name}")
    assert ocur.fetchone()[0] == 10
    # an error in autocommit mode does not poison the next statement
    with pytest.raises(psycopg2.errors.DivisionByZero):
        cur.execute("SELECT 1/0")
    cur.execute(f"INSERT INTO {table_name} VALUES (5)")
    ocur.execute(f"SELECT sum(id) FROM {table_name}")
    assert ocur.fetchone()[0] == 15
    other.close()


N_LARGE = 100_000


def test_large_result_client_side(conn):
    cur = conn.cursor()
    cur.execute("SELECT g, repeat('x', g %% 50) FROM generate_series(1, %s) g", (N_LARGE,))
    total = 0
    count = 0
    lens = 0
    for g, s in cur:
        total += g
        count += 1
        lens += len(s)
    assert count == N_LARGE
    assert total == N_LARGE * (N_LARGE + 1) // 2
    assert lens == sum(g % 50 for g in range(1, N_LARGE + 1))
    conn.rollback()


def test_large_result_server_side_cursor(conn):
    # a named cursor: DECLARE + many FETCHes in one transaction, which a
    # transaction pooler must keep on one server connection
    cur = conn.cursor(name="big_cursor")
    cur.itersize = 5000
    cur.execute("SELECT g FROM generate_series(1, %s) g", (N_LARGE,))
    total = 0
    count = 0
    for (g,) in cur:
        total += g
        count += 1
    assert count == N_LARGE
    assert total == N_LARGE * (N_LARGE + 1) // 2
    cur.close()
    conn.commit()


def test_named_cursor_over_a_range_on_another_node(mosaic, conn, table_name):
    # psycopg2's named cursor (DECLARE ... CURSOR WITHOUT HOLD, then FETCH FORWARD n and CLOSE),
    # as Django's QuerySet.iterator() and SQLAlchemy's yield_per use it, over rows of node 3:
    # the cursor and every FETCH run there (before, refused: cursors were kept on node 1)
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v text NOT NULL)")
    conn.commit()
    mosaic.split_by_id(table_name, None)
    cur.execute(f"INSERT INTO {table_name} VALUES " + ",".join(f"({g}, 'v{g}')" for g in range(1, 3001)))
    conn.commit()
    named = conn.cursor(name="far_rows")
    named.itersize = 70
    named.execute(f"SELECT id, v FROM {table_name} WHERE id >= %s ORDER BY id", (2000,))
    rows = list(named)
    named.close()
    conn.commit()
    assert [r[0] for r in rows] == list(range(2000, 3001))
    assert rows[17] == (2017, "v2017")
    # all three nodes' rows: Mosaic runs the query at DECLARE and answers the FETCHes itself
    named = conn.cursor(name="all_rows")
    named.itersize = 700
    named.execute(f"SELECT id FROM {table_name} ORDER BY id")
    assert [r[0] for r in named] == list(range(1, 3001))
    named.close()
    conn.rollback()
    cur.execute(f"DROP TABLE {table_name}")
    conn.commit()


def test_notices_reach_client(conn):
    cur = conn.cursor()
    del conn.notices[:]
    # A function rather than a DO block: DO is refused once another test of the shared instance
    # has distributed a table.
    cur.execute("CREATE FUNCTION say_hello() RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE NOTICE 'hello from %', 'mosaic'; RAISE WARNING 'careful %', 42; END $$")
    del conn.notices[:]
    cur.execute("SELECT say_hello()")
    joined = "".join(conn.notices)
    assert "NOTICE:  hello from mosaic" in joined, conn.notices
    assert "WARNING:  careful 42" in joined, conn.notices
    conn.rollback()


def test_set_timezone_same_transaction(conn):
    cur = conn.cursor()
    cur.execute("SET TimeZone = 'Asia/Kathmandu'")
    cur.execute("SHOW TimeZone")
    assert cur.fetchone()[0] == "Asia/Kathmandu"
    cur.execute("SELECT to_char('2024-01-01 00:00:00+00'::timestamptz, 'HH24:MI')")
    assert cur.fetchone()[0] == "05:45"
    conn.rollback()
    cur.execute("SELECT 1")  # new transaction still works
    assert cur.fetchone() == (1,)
    conn.rollback()


def test_set_local_in_transaction(conn):
    cur = conn.cursor()
    cur.execute("SET LOCAL TimeZone = 'America/St_Johns'")
    cur.execute("SHOW TimeZone")
    assert cur.fetchone()[0] == "America/St_Johns"
    conn.commit()
    cur.execute("SHOW TimeZone")
    assert cur.fetchone()[0] != "America/St_Johns"
    conn.rollback()


def test_session_setting_kept_and_not_leaked(mosaic):
    """A session-level SET (outside any transaction) must stick to its client for
    its next transactions, even though transaction pooling may run them on other
    server connections, and must never show up in other clients' sessions."""
    b = mosaic.connect()
    b.autocommit = True
    bcur = b.cursor()
    bcur.execute("SHOW TimeZone")
    default_tz = bcur.fetchone()[0]
    assert default_tz != "Pacific/Chatham"

    a = mosaic.connect()
    a.autocommit = True
    acur = a.cursor()
    acur.execute("SET TimeZone = 'Pacific/Chatham'")
    acur.execute("SET application_name = 'client_a'")
    for i in range(30):
        acur.execute("SELECT current_setting('TimeZone'), current_setting('application_name')")
        assert acur.fetchone() == ("Pacific/Chatham", "client_a"), f"iteration {i}"
        bcur.execute("SELECT current_setting('TimeZone'), current_setting('application_name')")
        got = bcur.fetchone()
        assert got[0] == default_tz and got[1] != "client_a", f"leak into another client: {got}"
        if i % 10 == 9:  # fresh clients too
            c = mosaic.connect()
            c.autocommit = True
            ccur = c.cursor()
            ccur.execute("SHOW TimeZone")
            assert ccur.fetchone()[0] == default_tz
            c.close()
    acur.execute("RESET TimeZone")
    acur.execute("SHOW TimeZone")
    assert acur.fetchone()[0] == default_tz
    a.close()
    b.close()


def test_copy_in_and_out(conn, table_name):
    import io
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {table_name} (id int, name text)")
    conn.commit()
    data = "".join(f"{i}\tname {i}\n" for i in range(1, 2001))
    cur.copy_expert(f"COPY {table_name} FROM STDIN", io.StringIO(data))
    conn.commit()
    cur.execute(f"SELECT count(*), sum(id) FROM {table_name}")
    assert cur.fetchone() == (2000, 2001000)
    out = io.StringIO()
    cur.copy_expert(f"COPY (SELECT * FROM {table_name} ORDER BY id) TO STDOUT", out)
    assert out.getvalue() == data
    conn.commit()
    # a COPY that fails mid-stream leaves nothing and the connection usable
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        cur.copy_expert(f"COPY {table_name} FROM STDIN", io.StringIO("5000\tok\nnot_a_number\tx\n"))
    conn.rollback()
    cur.execute(f"SELECT count(*) FROM {table_name} WHERE id = 5000")
    assert cur.fetchone() == (0,)
    conn.rollback()


def test_large_parameter(conn):
    cur = conn.cursor()
    big = "abcdefghij" * 500_000  # 5 MB in one Query message
    cur.execute("SELECT length(%s), md5(%s)", (big, big))
    import hashlib
    assert cur.fetchone() == (len(big), hashlib.md5(big.encode()).hexdigest())
    conn.rollback()
