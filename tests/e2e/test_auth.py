"""Client authentication: SCRAM-SHA-256 users from a config file, and trust."""

import psycopg2
import pytest

import pgwire
from harness import Mosaic, serving

SCRAM_CONFIG = """\
auth = "scram-sha-256"
authentication_timeout_s = 2
max_client_connections = 12

[[users]]
name = "alice"
password = "s3cret"

[[users]]
name = "bob"
password = "pässwörd with spaces"
"""


@pytest.fixture(scope="module")
def scram_mosaic():
    with serving(Mosaic(nodes=1, config_text=SCRAM_CONFIG, name="scram",
                        ready_check=scram_ready)) as m:
        yield m


def scram_ready(m):
    """Ready when Mosaic answers a startup as alice with the PostgreSQL protocol:
    either it authenticates, or it sends an ErrorResponse. Whether authentication
    is right is what the tests below check (so a broken SCRAM fails them rather
    than timing out the fixture)."""
    if "mosaic listening on" not in m.log_text():
        return False, "no 'mosaic listening' line in the log yet"
    c = pgwire.PgConn(m.host, m.port, timeout=5)
    try:
        c.startup(user="alice", password="s3cret")
        return True, None
    except pgwire.ServerError as e:
        return True, str(e)
    except (OSError, EOFError, pgwire.ProtocolError) as e:
        return False, repr(e)
    finally:
        c.close()


def test_scram_psql_right_password(scram_mosaic):
    r = scram_mosaic.psql("select 'hello alice'", user="alice", password="s3cret")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hello alice"


def test_scram_psycopg2_right_password(scram_mosaic):
    conn = scram_mosaic.connect(user="alice", password="s3cret")
    cur = conn.cursor()
    cur.execute("SELECT %s::int + 1", (41,))
    assert cur.fetchone() == (42,)
    conn.close()
    conn = scram_mosaic.connect(user="bob", password="pässwörd with spaces")
    cur = conn.cursor()
    cur.execute("SELECT 'bob ok'")
    assert cur.fetchone() == ("bob ok",)
    conn.close()


def test_scram_raw_exchange_and_server_signature(scram_mosaic):
    c = pgwire.PgConn(scram_mosaic.host, scram_mosaic.port)
    try:
        c.send(pgwire.startup_packet({"user": "alice", "database": "mosaic"}))
        t, p = c.read_msg()
        assert t == "R"
        assert int.from_bytes(p[:4], "big") == 10, "expected AuthenticationSASL"
        assert b"SCRAM-SHA-256\x00" in p[4:]
        c.buf = bytes([ord(t)]) + (len(p) + 4).to_bytes(4, "big") + p + c.buf  # replay
        # finish_startup verifies the server's final signature (proves Mosaic knows
        # the password verifier rather than accepting anything)
        res = c.finish_startup(user="alice", password="s3cret")
        assert res.status == "I"
        assert c.simple("SELECT 1").rows == [["1"]]
    finally:
        c.close()


def test_scram_psycopg2_wrong_password(scram_mosaic):
    with pytest.raises(psycopg2.OperationalError) as ei:
        scram_mosaic.connect(user="alice", password="wrong")
    assert "password authentication failed" in str(ei.value), str(ei.value)


def test_scram_psql_wrong_password(scram_mosaic):
    r = scram_mosaic.psql("select 1", user="alice", password="S3cret")
    assert r.returncode != 0
    assert "password authentication failed" in r.stderr, r.stderr


def test_scram_wrong_password_sqlstate_28p01(scram_mosaic):
    c = pgwire.PgConn(scram_mosaic.host, scram_mosaic.port)
    try:
        with pytest.raises(pgwire.ServerError) as ei:
            c.startup(user="alice", password="not-the-password")
        assert ei.value.sqlstate == "28P01", ei.value.fields
        assert ei.value.severity == "FATAL"
        assert c.wait_closed(5)
    finally:
        c.close()


def test_scram_unknown_user_28p01(scram_mosaic):
    c = pgwire.PgConn(scram_mosaic.host, scram_mosaic.port)
    try:
        with pytest.raises(pgwire.ServerError) as ei:
            c.startup(user="mallory", password="s3cret")
        assert ei.value.sqlstate == "28P01", ei.value.fields
    finally:
        c.close()


def test_scram_no_password_refused(scram_mosaic):
    r = scram_mosaic.psql("select 1", user="alice", args=["-w"])
    assert r.returncode != 0
    assert "password" in r.stderr, r.stderr


def test_scram_server_still_serves_after_failures(scram_mosaic):
    for _ in range(3):
        with pytest.raises(psycopg2.OperationalError):
            scram_mosaic.connect(user="alice", password="bad")
    conn = scram_mosaic.connect(user="alice", password="s3cret")
    cur = conn.cursor()
    cur.execute("SELECT 'still fine'")
    assert cur.fetchone() == ("still fine",)
    conn.close()


def test_clients_that_never_finish_their_startup_are_dropped(scram_mosaic):
    # Connections that sent part of a startup packet (or stopped in the SCRAM exchange) held
    # their max_client_connections slots forever: 12 of them locked every client out.
    import socket
    import struct
    import time
    m = scram_mosaic
    stalled = []
    for _ in range(11):
        s = socket.create_connection((m.host, m.port), timeout=10)
        s.sendall(b"\x00\x00")  # two bytes of a length
        stalled.append(s)
    sasl = socket.create_connection((m.host, m.port), timeout=10)
    params = b"user\x00alice\x00database\x00mosaic\x00\x00"
    sasl.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    assert sasl.recv(1) == b"R"  # AuthenticationSASL; the client never answers it
    stalled.append(sasl)
    with pytest.raises(psycopg2.OperationalError, match="too many clients"):
        m.connect(user="alice", password="s3cret")
    t0 = time.monotonic()
    for s in stalled:
        data = b""
        while True:
            chunk = s.recv(65536)  # the FATAL, then the end of the connection
            if not chunk:
                break
            data += chunk
        assert b"57014" in data and b"canceling authentication due to timeout" in data, data
        s.close()
    assert time.monotonic() - t0 < 6
    conn = m.connect(user="alice", password="s3cret")
    conn.close()


def test_trust_accepts_any_user(mosaic):
    for user in ("mosaic", "someone_else", "x" * 40):
        r = mosaic.psql("select 'trusted'", user=user)
        assert r.returncode == 0, (user, r.stderr)
        assert r.stdout.strip() == "trusted"
    conn = mosaic.connect(user="random_user_42", password="whatever")
    cur = conn.cursor()
    cur.execute("SELECT 7")
    assert cur.fetchone() == (7,)
    conn.close()
    # no authentication exchange at all: AuthenticationOk straight away
    c = pgwire.PgConn(mosaic.host, mosaic.port)
    try:
        c.send(pgwire.startup_packet({"user": "nobody_special", "database": "mosaic"}))
        t, p = c.read_msg()
        assert t == "R" and int.from_bytes(p[:4], "big") == 0
    finally:
        c.close()
