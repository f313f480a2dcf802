"""Mosaic in front of existing PostgreSQL servers (--node DSN, --catalog DSN), and the admin
API's node list and metrics. The 'existing servers' are two managed nodes of the shared
instance, reached directly."""
import json
import subprocess

import psycopg2

import harness


class ExternalMosaic(harness.Mosaic):
    """`mosaic serve --node ... --catalog ...` with no managed nodes of its own."""

    def __init__(self, node_dsns, catalog_dsn, **kw):
        super().__init__(nodes=0, name="external", **kw)
        self.node_dsns = node_dsns
        self.catalog_dsn = catalog_dsn

    def command(self):
        cmd = [harness.MOSAIC_BIN, "serve", "--listen", f"{self.host}:{self.port}",
               "--admin-listen", f"{self.host}:{self.admin_port}", "--catalog", self.catalog_dsn,
               "--log-level", harness.LOG_LEVEL]
        for dsn in self.node_dsns:
            cmd += ["--node", dsn]
        return cmd


def test_existing_servers_by_dsn(mosaic, table_name):
    shared_nodes = mosaic.nodes()[:2]
    # A password the server does not need (trust) must still never be shown back.
    dsns = [f"host={n['host']} port={n['port']} user=mosaic dbname=mosaic password=topsecret"
            for n in shared_nodes]
    catalog = f"host={shared_nodes[0]['host']} port={shared_nodes[0]['port']} user=mosaic dbname=mosaic_catalog_ext"
    ext = ExternalMosaic(dsns, catalog)
    try:
        ext.start()
        r = ext.psql(f"CREATE TABLE {table_name} (id int PRIMARY KEY, v text)")
        assert r.returncode == 0, r.stderr
        r = ext.psql(f"INSERT INTO {table_name} VALUES (1, 'a'), (2, 'b')")
        assert r.returncode == 0, r.stderr
        r = ext.psql(f"SELECT string_agg(v, ',' ORDER BY id) FROM {table_name}")
        assert r.stdout.strip() == "a,b", r.stderr

        # DDL reached both given nodes; rows live on the first; the third node was not given.
        for i, node in enumerate(shared_nodes):
            c = mosaic.connect_node(node)
            with c.cursor() as cur:
                cur.execute(f"SELECT count(*) FROM {table_name}")
                assert cur.fetchone()[0] == (2 if i == 0 else 0)
            c.close()
        third = mosaic.connect_node(mosaic.nodes()[2])
        with third.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (table_name,))
            assert cur.fetchone()[0] is None
        third.close()

        nodes = ext.nodes()
        assert [n["id"] for n in nodes] == [1, 2]
        for n, given in zip(nodes, shared_nodes):
            assert n["port"] == given["port"] and n["host"] == given["host"]
            assert n["dbname"] == "mosaic" and n["user"] == "mosaic" and n["tier"] == "hot"
            assert n["state"] == "up" or n["state"] == "unknown"
            assert "topsecret" not in json.dumps(n)
            assert f"port={given['port']}" in n["dsn"]

        metrics = ext.metrics()
        assert 'mosaic_pool_server_connections{node="1",state="idle"}' in metrics
        statements = [l for l in metrics.splitlines() if l.startswith("mosaic_statements_total ")]
        assert statements and float(statements[0].split()[1]) >= 3

        # The catalog went where --catalog said, and lists the two nodes.
        cat = psycopg2.connect(host=shared_nodes[0]["host"], port=shared_nodes[0]["port"],
                               user="mosaic", dbname="mosaic_catalog_ext")
        with cat.cursor() as cur:
            cur.execute("SELECT id, port FROM mosaic.nodes ORDER BY id")
            assert cur.fetchall() == [(1, shared_nodes[0]["port"]), (2, shared_nodes[1]["port"])]
        cat.close()
    finally:
        harness.finish(ext)


def test_bad_node_dsn_is_a_clear_startup_error(tmp_path):
    r = subprocess.run([harness.MOSAIC_BIN, "serve", "--node", "host=127.0.0.1 nonsense_key=1",
                        "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "nonsense_key" in r.stderr
