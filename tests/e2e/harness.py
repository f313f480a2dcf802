"""Test harness for Mosaic end-to-end tests: start a real `mosaic serve` with managed
PostgreSQL nodes on fresh ports and a fresh data dir, and talk to it with real clients.

Environment knobs:
  MOSAIC_BIN              path of the mosaic binary (default: <repo>/build/mosaic)
  MOSAIC_E2E_LOG_LEVEL    --log-level for every instance (default: info)
  MOSAIC_E2E_KEEP         if set, keep data dirs and logs of instances (for debugging)
  MOSAIC_E2E_TEST_TIMEOUT per-test watchdog in seconds (default 120)
  MOSAIC_E2E_TMPDIR       where instances get their fresh dirs (default /var/tmp; run.sh picks
                          /dev/shm when it has room: the managed nodes' fsyncs are then free)
"""

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import psycopg2

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(E2E_DIR, "..", ".."))
MOSAIC_BIN = os.environ.get("MOSAIC_BIN", os.path.join(REPO_ROOT, "build", "mosaic"))
LOG_LEVEL = os.environ.get("MOSAIC_E2E_LOG_LEVEL", "info")
KEEP = bool(os.environ.get("MOSAIC_E2E_KEEP"))
TEST_TIMEOUT = float(os.environ.get("MOSAIC_E2E_TEST_TIMEOUT", "120"))
TMP_DIR = os.environ.get("MOSAIC_E2E_TMPDIR") or "/var/tmp"
HOST = "127.0.0.1"


# ------------------------------------------------------------------ ports

_used_ports = set()
_port_lock = threading.Lock()


def _port_free(port):
    for family, addr in ((socket.AF_INET, HOST),):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def _port_range():
    """This process's share of 16400..29999. Under pytest-xdist each worker (gw0, gw1, ...)
    draws from its own slice, so two workers never hand out the same port even though each
    only remembers its own."""
    lo, hi = 16400, 30000
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if worker.startswith("gw") and worker[2:].isdigit() and workers > 1:
        width = (hi - lo) // workers
        lo += int(worker[2:]) * width
        hi = lo + width
    return lo, hi


def allocate_ports(count):
    """A block of `count` consecutive free TCP ports in this process's range (see
    _port_range), never handed out twice in this run (restarts reuse an instance's own
    ports explicitly)."""
    lo, hi = _port_range()
    with _port_lock:
        rng = random.Random(os.getpid() ^ int(time.time() * 1000))
        for _ in range(500):
            base = rng.randrange(lo, hi - count)
            block = range(base, base + count)
            if any(p in _used_ports for p in block):
                continue
            if all(_port_free(p) for p in block):
                _used_ports.update(block)
                return list(block)
    raise RuntimeError(f"no block of {count} free ports found")


# ------------------------------------------------------------------ watchdog

def cut_connection(conn):
    """Shuts down the socket of a psycopg2 connection (wakes a libpq call waiting for a reply
    that never comes)."""
    try:
        s = socket.socket(fileno=os.dup(conn.fileno()))
        try:
            s.shutdown(socket.SHUT_RDWR)
        finally:
            s.close()
    except Exception:
        pass


class ConnRegistry:
    """psycopg2 connections opened by a test, so the per-test watchdog can cut
    them (shutdown of the socket wakes a libpq call blocked on a hung server)."""

    def __init__(self):
        self.conns = []
        self.lock = threading.Lock()

    def add(self, conn):
        with self.lock:
            self.conns.append(conn)

    def cut_all(self):
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            if not c.closed:
                cut_connection(c)

    def close_all(self):
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.close()
            except Exception:
                pass


conn_registry = ConnRegistry()


class Mosaic:
    """One `mosaic serve` process with managed nodes under a fresh dir in TMP_DIR."""

    def __init__(self, nodes=3, config_text=None, extra_args=(), name="mosaic",
                 ready_check=None):
        self.num_nodes = nodes
        # ready_check(m) -> (ready, error text); default: psql "select 1" as user mosaic
        self.ready_check = ready_check or psql_ready
        self.base_dir = tempfile.mkdtemp(prefix=f"mosaic-e2e-{name}-", dir=TMP_DIR)
        # managed PostgreSQL runs as OS user postgres: it must be able to traverse this
        os.chmod(self.base_dir, 0o755)
        self.data_dir = os.path.join(self.base_dir, "data")
        self.log_path = os.path.join(self.base_dir, "mosaic.log")
        ports = allocate_ports(3 + nodes)
        self.host = HOST
        self.port, self.admin_port = ports[0], ports[1]
        self.node_base_port = ports[2]
        self.config_path = None
        if config_text is not None:
            self.config_path = os.path.join(self.base_dir, "mosaic.toml")
            with open(self.config_path, "w") as f:
                f.write(config_text)
        self.extra_args = list(extra_args)
        self.proc = None
        self._log = None
        self.starts = 0

    # ---- lifecycle
    def command(self):
        # The rebalancer would start migrations of its own after a minute of traffic (pgbench's
        # tables all on node 1 are an imbalance): off unless a test configures it.
        if self.config_path is None:
            self.config_path = os.path.join(self.base_dir, "mosaic.toml")
            open(self.config_path, "w").close()
        with open(self.config_path) as f:
            text = f.read()
        if "[rebalancer]" not in text:
            with open(self.config_path, "a") as f:
                f.write("\n[rebalancer]\nenabled = false\n")
        cmd = [MOSAIC_BIN, "serve"]
        if self.config_path:
            cmd += ["--config", self.config_path]
        cmd += [
            "--managed-nodes", str(self.num_nodes),
            "--data-dir", self.data_dir,
            "--listen", f"{self.host}:{self.port}",
            "--admin-listen", f"{self.host}:{self.admin_port}",
            "--node-base-port", str(self.node_base_port),
            "--log-level", LOG_LEVEL,
        ]
        return cmd + self.extra_args

    def start(self, timeout=60.0):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosaic exited with {self.proc.returncode} during startup:\n"
                                   + self.log_tail())
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
                ready, last_err = self.ready_check(self)
                if ready:
                    return self
            except (OSError, subprocess.TimeoutExpired) as e:
                last_err = str(e)
            time.sleep(0.25)
        self.kill()
        raise RuntimeError(f"mosaic not ready within {timeout}s (last error: {last_err}):\n"
                           + self.log_tail())

    def stop(self, timeout=30.0):
        """SIGTERM and wait; return the exit code (None if it had to be killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        rc = self.proc.returncode
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def kill(self):
        """Last resort: SIGKILL Mosaic and the managed postmasters it left behind."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for i in range(1, self.num_nodes + 1):
            pid = self.postmaster_pid(i)
            if pid:
                try:
                    os.kill(pid, signal.SIGQUIT)
                except OSError:
                    pass

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.kill()
        # managed postmasters must be gone before their directories are removed
        for i in range(1, self.num_nodes + 1):
            pid = self.postmaster_pid(i)
            if pid and _pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGQUIT)
                except OSError:
                    pass
        if not KEEP:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # ---- logs and files
    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def node_dir(self, i):
        return os.path.join(self.data_dir, "nodes", f"node-{i}")

    def postmaster_pid(self, i):
        try:
            with open(os.path.join(self.node_dir(i), "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    # ---- admin API
    def admin_get(self, path, timeout=10):
        with urllib.request.urlopen(f"http://{self.host}:{self.admin_port}{path}",
                                    timeout=timeout) as r:
            return r.status, r.read().decode()

    def admin_post(self, path, body, timeout=60, method="POST"):
        """POST (or `method`) `body` as JSON to the admin API; (HTTP status, parsed JSON reply),
        errors too."""
        req = urllib.request.Request(f"http://{self.host}:{self.admin_port}{path}",
                                     data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json"})
        return _json_reply(req, timeout)

    def split_by_id(self, table, tenant):
        """Lays `table` out in three ranges of its id column (below 1000 on node 1, below 2000
        on node 2, the rest on node 3): `tenant`'s rows (a tenant id as text), or with None a
        table without tenants."""
        status, body = self.admin_post("/api/v1/layout", {
            "tables": [table], "tenant": tenant, "column": "id",
            "ranges": [{"upper": "1000", "node": 1}, {"upper": "2000", "node": 2}, {"node": 3}]})
        assert status == 200, body

    def admin_get_json(self, path, timeout=60):
        """GET from the admin API; (HTTP status, parsed JSON reply), errors too."""
        return _json_reply(f"http://{self.host}:{self.admin_port}{path}", timeout)

    def nodes(self):
        status, body = self.admin_get("/api/v1/nodes")
        assert status == 200, body
        return json.loads(body)

    def metrics(self):
        return self.admin_get("/metrics")[1]

    def metric(self, name):
        """The value of an unlabelled metric, 0 when absent."""
        found = re.search(rf"^{re.escape(name)} (\S+)$", self.metrics(), re.M)
        return float(found.group(1)) if found else 0.0

    # ---- clients
    def dsn(self, user="mosaic", dbname="mosaic", password=None, **kw):
        d = dict(host=self.host, port=self.port, user=user, dbname=dbname, connect_timeout=10)
        if password is not None:
            d["password"] = password
        d.update(kw)
        return d

    def connect(self, **kw):
        conn = psycopg2.connect(**self.dsn(**kw))
        conn_registry.add(conn)
        return conn

    def connect_node(self, node, **kw):
        """Direct connection to a managed node (bypassing Mosaic)."""
        d = dict(host=node["host"], port=node["port"], user=node["user"],
                 dbname=node["dbname"], connect_timeout=10)
        d.update(kw)
        conn = psycopg2.connect(**d)
        conn_registry.add(conn)
        return conn

    def psql(self, sql=None, user="mosaic", dbname="mosaic", password=None, timeout=30,
             args=(), input=None, port=None, host=None):
        cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-h", host or self.host, "-p", str(port or self.port), "-U", user, "-d", dbname]
        cmd += list(args)
        if sql is not None:
            cmd += ["-c", sql]
        return subprocess.run(cmd, env=self.client_env(password), input=input,
                              capture_output=True, text=True, timeout=timeout)

    def client_env(self, password=None):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("PG"):
                del env[k]
        env["PGCONNECT_TIMEOUT"] = "10"
        if password is not None:
            env["PGPASSWORD"] = password
        return env


def _json_reply(request, timeout):
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def psql_ready(m):
    r = m.psql("select 1", timeout=10)
    return r.returncode == 0 and r.stdout.strip() == "1", r.stderr


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def finish(instance):
    """Teardown: stop with SIGTERM, require exit code 0, delete the data dir."""
    try:
        rc = instance.stop()
        assert rc == 0, (f"mosaic did not exit cleanly on SIGTERM (exit code {rc}); "
                         f"log tail:\n{instance.log_tail()}")
    finally:
        instance.cleanup()


@contextlib.contextmanager
def serving(instance):
    """Starts `instance`, yields it, and finishes it (exit code 0 checked). A failed start, or
    a test body that raises, still stops the instance and removes what it left (the test's own
    error is the one reported)."""
    try:
        instance.start()
    except Exception:
        instance.cleanup()
        raise
    try:
        yield instance
    except BaseException:
        try:
            instance.stop()
        finally:
            instance.cleanup()
        raise
    finish(instance)
