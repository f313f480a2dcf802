"""`mosaic demo`: managed nodes, sample multi-tenant data, reachable with psql, exits after
--duration."""
import os
import shutil
import subprocess
import tempfile
import time

import harness


def test_demo_serves_sample_data_and_exits():
    base = tempfile.mkdtemp(prefix="mosaic-e2e-demo-", dir="/var/tmp")
    os.chmod(base, 0o755)
    port, admin, node_base = harness.allocate_ports(5)[:3]
    cmd = [harness.MOSAIC_BIN, "demo", "--duration", "40", "--data-dir", os.path.join(base, "d"),
           "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
           "--node-base-port", str(node_base)]
    out_path = os.path.join(base, "demo.out")
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 35
        text = ""
        while time.monotonic() < deadline and "Mosaic demo is running" not in text:
            assert proc.poll() is None, open(out_path).read()
            time.sleep(0.5)
            text = open(out_path).read()
        assert "Mosaic demo is running on 3 managed PostgreSQL nodes" in text, text
        assert f"psql -h 127.0.0.1 -p {port} -U mosaic mosaic" in text
        r = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "mosaic",
                            "-d", "mosaic", "-c",
                            "SELECT count(*), count(*) FILTER (WHERE plan = 'enterprise') FROM tenants"],
                           capture_output=True, text=True, timeout=20)
        assert r.stdout.strip() == "50|3", r.stderr
        r = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "mosaic",
                            "-d", "mosaic", "-c", "SELECT count(*) FROM orders WHERE tenant_id = 1"],
                           capture_output=True, text=True, timeout=20)
        assert r.stdout.strip() == "20000", r.stderr
        assert proc.wait(timeout=60) == 0  # --duration ends it cleanly
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)
