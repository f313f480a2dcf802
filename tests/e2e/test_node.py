"""Runs the node-postgres (`pg`) suite tests/e2e/node/test.mjs against the shared Mosaic."""

import os
import shutil
import subprocess

import pytest

from harness import E2E_DIR

NODE_DIR = os.path.join(E2E_DIR, "node")


def ensure_node_modules():
    if os.path.isdir(os.path.join(NODE_DIR, "node_modules", "pg")):
        return
    if os.path.exists(os.path.join(NODE_DIR, "package-lock.json")):
        cmd = ["npm", "ci", "--no-audit", "--no-fund"]
    else:
        cmd = ["npm", "install", "--no-audit", "--no-fund"]
    r = subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"


@pytest.mark.timeout(240)
def test_node_pg_suite(mosaic):
    if shutil.which("node") is None:
        pytest.fail("node is not installed (the project's bootstrap installs nodejs)")
    ensure_node_modules()
    env = dict(os.environ, MOSAIC_HOST=mosaic.host, MOSAIC_PORT=str(mosaic.port))
    r = subprocess.run(["node", "--test", os.path.join(NODE_DIR, "test.mjs")],
                       cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"node --test failed (exit {r.returncode}):\n{out}"
    # all eight tests ran and passed (guards against a silently empty run)
    assert "# pass 8" in out and "# fail 0" in out, out
