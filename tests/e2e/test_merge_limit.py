"""A statement over several nodes whose rows Mosaic must hold to combine them (aggregation,
DISTINCT; INSERT ... SELECT through Mosaic holds the selected rows) is refused with 54000 past
max_merge_mb, instead of growing the router's memory until the process dies for every session.
On the binary before this test the 3 MB result came back whole (and a large enough one ran the
router out of memory). The session goes on. A plain or ORDER BY SELECT streams and is not limited
(test_streaming.py).
"""

import psycopg2
import pytest

CONFIG = "max_merge_mb = 1\n"


@pytest.mark.timeout(120)
def test_results_over_max_merge_mb_are_refused_and_the_session_goes_on(mosaic_factory):
    m = mosaic_factory(nodes=2, config_text=CONFIG)
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute("CREATE TABLE big (k int8 PRIMARY KEY, pad text NOT NULL)")
    cur.execute("CREATE TABLE copy (k int8 PRIMARY KEY, pad text NOT NULL)")
    for table in ("big", "copy"):
        status, body = m.admin_post("/api/v1/layout", {
            "tables": [table], "tenant": None, "column": "k",
            "ranges": [{"upper": "1000", "node": 1}, {"node": 2}]})
        assert status == 200, body
    # 2000 rows of 1.5 kB: 3 MB over both nodes, 1.5 MB on each (inserted 400 at a time: an
    # INSERT ... SELECT into a split table holds its rows in Mosaic too).
    for first in range(0, 2000, 400):
        cur.execute("INSERT INTO big SELECT g, repeat('x', 1500) FROM generate_series(%s, %s) g",
                    (first, first + 399))

    with pytest.raises(psycopg2.Error) as err:
        cur.execute("SELECT k, pad, count(*) FROM big GROUP BY k, pad ORDER BY k")
    assert err.value.pgcode == "54000", err.value
    assert "max_merge_mb" in str(err.value)
    with pytest.raises(psycopg2.Error) as err:
        cur.execute("SELECT DISTINCT pad, k FROM big")
    assert err.value.pgcode == "54000", err.value

    # Under the limit, and on one node, all is as before.
    cur.execute("SELECT count(*), sum(length(pad)) FROM big")
    assert cur.fetchone() == (2000, 3000000)
    cur.execute("SELECT k FROM big ORDER BY k DESC LIMIT 3")
    assert cur.fetchall() == [(1999,), (1998,), (1997,)]
    cur.execute("SELECT count(*) FROM (SELECT pad FROM big WHERE k < 1000) s")
    assert cur.fetchone() == (1000,)

    # INSERT ... SELECT through Mosaic holds the selected rows: refused, nothing inserted.
    with pytest.raises(psycopg2.Error) as err:
        cur.execute("INSERT INTO copy SELECT k + 1, pad FROM big")
    assert err.value.pgcode == "54000", err.value
    cur.execute("SELECT count(*) FROM copy")
    assert cur.fetchone() == (0,)
    cur.execute("INSERT INTO copy SELECT k + 1, pad FROM big WHERE k < 300")
    assert cur.rowcount == 300
    c.close()


@pytest.mark.timeout(120)
def test_limit_and_offset_parameters_over_several_nodes_in_text_and_binary(mosaic_factory):
    """`LIMIT $1 OFFSET $2` over several nodes with the values as parameters, in text (psycopg 3's
    %s) and in binary format (%b; pgjdbc sends setInt/setLong so): the same rows as PostgreSQL
    gives. On the binary before this test a binary LIMIT or OFFSET was refused with 0A000 ("its
    LIMIT is not a constant Mosaic can read")."""
    psycopg = pytest.importorskip("psycopg")
    m = mosaic_factory(nodes=2)
    c = m.connect()
    c.autocommit = True
    cur = c.cursor()
    cur.execute("CREATE TABLE paged (k int8 PRIMARY KEY, g int NOT NULL)")
    status, body = m.admin_post("/api/v1/layout", {
        "tables": ["paged"], "tenant": None, "column": "k",
        "ranges": [{"upper": "50", "node": 1}, {"node": 2}]})
    assert status == 200, body
    cur.execute("INSERT INTO paged SELECT i, i % 7 FROM generate_series(1, 100) i")
    c.close()
    rows = [(k, k % 7) for k in range(1, 101)]
    with psycopg.connect(host=m.host, port=m.port, user="mosaic", dbname="mosaic", autocommit=True) as p:
        for marker in ("%s", "%b"):
            for limit, offset in ((5, 0), (10, 45), (3, 98), (0, 0), (None, 95)):
                got = p.execute(f"SELECT k, g FROM paged ORDER BY k LIMIT {marker} OFFSET {marker}",
                                (limit, offset)).fetchall()
                end = None if limit is None else offset + limit
                assert got == rows[offset:end], (marker, limit, offset, got)
            # the values as int2, int4 and int8 (psycopg 3 sends the smallest that fits)
            for limit in (2, 40000, 3_000_000_000):
                got = p.execute(f"SELECT k FROM paged ORDER BY k DESC LIMIT {marker}", (limit,)).fetchall()
                assert got == [(k,) for k in range(100, 0, -1)][:limit], (marker, limit)
            got = p.execute(f"SELECT g, count(*) FROM paged GROUP BY g ORDER BY g LIMIT {marker} OFFSET {marker}",
                            (2, 3)).fetchall()
            assert got == [(3, 14), (4, 14)], (marker, got)
            with pytest.raises(psycopg.Error) as err:
                p.execute(f"SELECT k FROM paged ORDER BY k LIMIT {marker}", (-1,))
            assert err.value.sqlstate == "2201W", err.value
