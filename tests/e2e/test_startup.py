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
