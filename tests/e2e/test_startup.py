"""Client connection startup as PostgreSQL 15 answers it: protocol version negotiation,
startup settings a node rejects, and a node out of connection slots. Each answer is compared
with what a managed node itself sends to the same bytes."""

import socket
import struct

import pytest

import pgwire
from pgwire import PgConn, ServerError, startup_packet


def connect_to(host, port):
    """A raw connection to Mosaic or to a node (a node's host may be its socket directory)."""
    if not host.startswith("/"):
        return PgConn(host, port)
    c = PgConn.__new__(PgConn)
    c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.sock.settimeout(15)
    c.sock.connect(f"{host}/.s.PGSQL.{port}")
    c.buf, c.params, c.startup_params = b"", {}, {}
    c.backend_pid = c.backend_key = None
    return c


def endpoints(m):
    """(name, host, port, user, database) of Mosaic and of its default node."""
    node = m.nodes()[0]
    return [("mosaic", m.host, m.port, "mosaic", "mosaic"),
            ("node", node["host"], node["port"], node["user"], node["dbname"])]


# ---------------------------------------------------------------- protocol version

@pytest.mark.parametrize("minor, options", [(2, {}), (1, {"_pq_.a": "1", "_pq_.b": "x"}), (0, {"_pq_.a": "1"})],
                         ids=["3.2", "3.1-with-options", "3.0-with-option"])
def test_a_newer_minor_version_or_protocol_options_are_negotiated_down_to_3_0(mosaic, minor, options):
    # PostgreSQL 15 answers NegotiateProtocolVersion (3.0, the `_pq_.` options it does not
    # recognize) before authentication and goes on with 3.0; before, Mosaic said nothing (a
    # 3.2 client would take that as 3.2 accepted) and took the options for settings.
    answers = {}
    for name, host, port, user, database in endpoints(mosaic):
        c = connect_to(host, port)
        try:
            c.send(startup_packet({"user": user, "database": database, **options}, protocol=(3 << 16) | minor))
            answers[name] = c.read_msg()
            res = c.finish_startup(user=user)
            assert res.status == "I", name
            assert c.simple("SELECT 1").rows == [["1"]], name
        finally:
            c.close()
    names = b"".join(pgwire.cstr(k) for k in options)
    assert answers["mosaic"] == ("v", struct.pack("!ii", 3 << 16, len(options)) + names)
    assert answers["mosaic"] == answers["node"]


# ---------------------------------------------------------------- startup settings

def refusal_at_startup(host, port, user, database, extra):
    """The error a server answers a startup with `extra` parameters; it must close after it."""
    c = connect_to(host, port)
    try:
        with pytest.raises(ServerError) as err:
            c.startup(user=user, database=database, extra=extra)
        assert c.wait_closed(5), "the connection stayed open after the FATAL"
        return err.value.fields
    finally:
        c.close()


@pytest.mark.parametrize("extra", [{"options": "-c work_mem=banana"}, {"options": "-c no_such_guc=1"},
                                   {"client_encoding": "NOPE"}, {"DateStyle": "banana"},
                                   {"application_name": "app", "options": "--lock_timeout=soon"}],
                         ids=["bad-value", "unknown-setting", "encoding", "datestyle", "long-option"])
def test_a_startup_setting_the_node_rejects_is_a_fatal_error_at_startup(mosaic, extra):
    # Before, Mosaic admitted the client; its first query got the node's error before its rows,
    # and later ones ran without the setting.
    got, want = (refusal_at_startup(host, port, user, database, extra)
                 for _, host, port, user, database in endpoints(mosaic))
    assert got["S"] == "FATAL", got
    assert (got["C"], got["M"]) == (want["C"], want["M"]), (got, want)
    assert got["C"] in ("22023", "42704"), got


def test_startup_settings_a_node_accepts_hold_for_every_query_and_no_other_client(mosaic):
    c = PgConn(mosaic.host, mosaic.port)
    other = PgConn(mosaic.host, mosaic.port)
    try:
        res = c.startup(extra={"options": "-c work_mem=3MB -c statement_timeout=7s", "DateStyle": "SQL, DMY",
                               "TimeZone": "Asia/Kolkata", "search_path": "\"Odd\", public"})
        assert res.status == "I"
        assert c.params.get("DateStyle") == "SQL, DMY" and c.params.get("TimeZone") == "Asia/Kolkata"
        for _ in range(3):
            r = c.simple("SHOW work_mem; SHOW statement_timeout; SHOW DateStyle; SHOW TimeZone; SHOW search_path")
            assert r.errors == [], r.errors
            assert r.rows == [["3MB"], ["7s"], ["SQL, DMY"], ["Asia/Kolkata"], ['"Odd", public']]
        other.startup()
        r = other.simple("SHOW work_mem; SHOW statement_timeout; SHOW DateStyle")
        assert r.rows == [["4MB"], ["0"], ["ISO, MDY"]], r.rows
    finally:
        c.close()
        other.close()


# ---------------------------------------------------------------- node out of connection slots

def test_a_node_out_of_connection_slots_gives_the_client_postgresqls_53300(mosaic_factory):
    # The node refuses Mosaic's new server connection with FATAL 53300: the client gets that
    # SQLSTATE and message (as from PostgreSQL itself), not 08006, and its session lives on.
    m = mosaic_factory(nodes=1, config_text="pool_size = 60\nquery_wait_timeout_ms = 5000\n")
    node = m.nodes()[0]
    direct = m.connect_node(node)
    direct.autocommit = True
    direct.cursor().execute("ALTER SYSTEM SET max_connections = 20")
    direct.close()
    m.stop()
    m.start()
    clients, refused = [], []
    try:
        for _ in range(40):
            c = PgConn(m.host, m.port)
            c.startup()
            clients.append(c)
            r = c.simple("BEGIN")
            if not r.errors:  # holds a server connection until COMMIT
                r = c.simple("SELECT pg_catalog.pg_backend_pid()")
            if r.errors:
                refused.append((c, r))
        assert refused, "the node never ran out of connection slots"
        for _, r in refused:
            assert [(e["S"], e["C"]) for e in r.errors] == [("ERROR", "53300")], r.errors
            assert r.errors[0]["M"] in ("sorry, too many clients already",
                                        "remaining connection slots are reserved for non-replication "
                                        "superuser connections"), r.errors
        for c in clients:
            if all(c is not f for f, _ in refused):
                assert c.simple("COMMIT").errors == []
        for c, _ in refused:
            assert c.simple("ROLLBACK").errors == []
            assert c.simple("SELECT 1").rows == [["1"]]
    finally:
        for c in clients:
            c.close()
