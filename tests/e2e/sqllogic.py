"""Differential sqllogictest-style runner: every record of a tests/sql/*.test file runs through
Mosaic (the *subject*) and through one plain PostgreSQL (the *reference*), and the two results
must be identical. Used by test_sql_differential.py; also a command-line tool (see main()).

File format
===========
A file is a sequence of records separated by blank lines. Lines starting with `#` before a
record (and between records) are comments. A record is zero or more *condition lines*, one
*record line*, and a body:

  statement ok
  <SQL, one or more lines, up to the next blank line>

      Runs on both sides; both must succeed. For INSERT/UPDATE/DELETE the affected row counts
      (command tags) must be equal too. Rows a statement returns are ignored (use `query`).

  statement error <SQLSTATE>
  <SQL>

      Both sides must fail with exactly that SQLSTATE (messages may differ).

  statement refused
  <SQL>

      Mosaic must refuse the statement with SQLSTATE 0A000 and a non-empty message; the
      reference skips it.

  query <types> [nosort|rowsort|valuesort]
  <SQL>
  ----
  <expected rows>

      Runs on both sides; column names, column type OIDs and every value (exact text as the
      server sent it) must be identical, in order for `nosort` (the default; the statement must
      then have an ORDER BY that fixes the order), after sorting whole rows for `rowsort`, or
      after sorting all values for `valuesort`. <types> has one letter per column: I integer
      (int2/int4/int8/oid), R real (numeric/float4/float8), T anything else; checked against
      the column type OIDs. The `----` line and the expected rows are optional (the result is
      differential anyway); when present, the result must also equal them. Expected rows: one
      line per row with the values separated by tabs, or sqllogictest style with one value per
      line (for several columns only when no line contains a tab). NULL is written `NULL` and
      the empty string `(empty)`; values are PostgreSQL's text output (`t`/`f`, `12.50`,
      `2024-01-01`).

  layout [<HTTP status>|<N>xx]
  <JSON, one or more lines>

      Mosaic only: POST /api/v1/layout with that JSON body, e.g.
        {"table": "orders", "tenant": "1", "column": "order_date",
         "ranges": [{"upper": "2024-01-01", "node": 1}, {"upper": "2024-07-01", "node": 2},
                    {"node": 3}]}
      ("tables": [...] for a table group, "tenant": null for single-tenant tables). The answer
      must have the given status (`409`, or a class such as `4xx`; default `2xx`). The
      reference ignores it.

  halt
      Stops the file here (debugging aid).

Condition lines (before the record line):
  onlyif mosaic       run the record on Mosaic only (no comparison; `query` needs `----`)
  skipif mosaic       run the record on the reference only
  mayrefuse           Mosaic may answer 0A000 instead (counted as refused); if it answers at all
                      the result must be identical. For reads whose support is optional.
  node <N>            a `query` with `----` that runs directly on managed node N (bypassing
                      Mosaic) and must return the expected rows; checks where rows landed.
                      Skipped on the reference.

Both sides use psycopg2 connections in autocommit mode, so each statement is its own
transaction unless the file sends BEGIN ... COMMIT itself. Values are fetched as the exact
text the server sent (no Python conversion), so numeric scales, float digits, timestamp
offsets and so on must match exactly.

Self-check mode (`python3 sqllogic.py --self-check`): both sides are two databases of one plain
PostgreSQL; records that only make sense on Mosaic (layout, node, onlyif mosaic, statement
refused) are skipped. Use it to validate the expected side of new files.
"""

import argparse
import dataclasses
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import List, Optional

import psycopg2
import psycopg2.extensions

E2E_DIR = os.path.dirname(os.path.abspath(__file__))
SQL_DIR = os.path.abspath(os.path.join(E2E_DIR, "..", "sql"))
PG_BIN = os.environ.get("MOSAIC_PG_BIN", "/usr/lib/postgresql/15/bin")

INT_OIDS = {20, 21, 23, 26}
REAL_OIDS = {700, 701, 1700}

# ------------------------------------------------------------------ parsing


class FileError(Exception):
    """The .test file itself is malformed."""


@dataclasses.dataclass
class Record:
    path: str
    line: int                      # 1-based line of the record line
    kind: str                      # "statement", "query", "layout", "halt"
    sql: str = ""                  # SQL, or JSON for layout
    expect: str = "ok"             # statement: ok | error | refused
    sqlstate: Optional[str] = None
    types: str = ""
    sort: str = "nosort"
    expected: Optional[List[str]] = None  # query: lines after ----
    expected_at: int = -1          # 0-based index of the first expected line in the file
    status: Optional[str] = None   # layout: expected HTTP status ("409", "4xx")
    onlyif: Optional[str] = None   # "mosaic" | "reference"
    skipif: Optional[str] = None
    mayrefuse: bool = False
    node: Optional[int] = None

    @property
    def where(self):
        return f"{os.path.relpath(self.path)}:{self.line}"


_DB_NAMES = {"mosaic": "mosaic", "reference": "reference", "postgresql": "reference",
             "postgres": "reference"}


def parse_file(path) -> List[Record]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    records = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        conds = {}
        # condition lines
        while True:
            words = line.split()
            if words[0] in ("onlyif", "skipif"):
                if len(words) != 2 or words[1] not in _DB_NAMES:
                    raise FileError(f"{path}:{i + 1}: bad condition line {line!r}")
                conds[words[0]] = _DB_NAMES[words[1]]
            elif words[0] == "mayrefuse" and len(words) == 1:
                conds["mayrefuse"] = True
            elif words[0] == "node" and len(words) == 2 and words[1].isdigit():
                conds["node"] = int(words[1])
            else:
                break
            i += 1
            if i >= n or not lines[i].strip():
                raise FileError(f"{path}:{i}: condition line without a record")
            line = lines[i]
        rec_line = i + 1
        words = line.split()
        i += 1
        body = []
        while i < n and lines[i].strip():
            body.append(lines[i])
            i += 1
        rec = Record(path=path, line=rec_line, kind=words[0], **conds)
        if words[0] == "statement":
            if len(words) < 2 or words[1] not in ("ok", "error", "refused"):
                raise FileError(f"{path}:{rec_line}: bad statement line {line!r}")
            rec.expect = words[1]
            if words[1] == "error":
                if len(words) != 3 or len(words[2]) != 5:
                    raise FileError(f"{path}:{rec_line}: `statement error` needs a SQLSTATE")
                rec.sqlstate = words[2].upper()
            elif len(words) != 2:
                raise FileError(f"{path}:{rec_line}: bad statement line {line!r}")
            rec.sql = "\n".join(body)
        elif words[0] == "query":
            if len(words) not in (2, 3) or not all(c in "IRT" for c in words[1]):
                raise FileError(f"{path}:{rec_line}: bad query line {line!r}")
            rec.types = words[1]
            if len(words) == 3:
                if words[2] not in ("nosort", "rowsort", "valuesort"):
                    raise FileError(f"{path}:{rec_line}: bad sort mode {words[2]!r}")
                rec.sort = words[2]
            if "----" in body:
                k = body.index("----")
                rec.sql = "\n".join(body[:k])
                rec.expected = body[k + 1:]
                rec.expected_at = rec_line + k + 1
            else:
                rec.sql = "\n".join(body)
        elif words[0] == "layout":
            if len(words) == 2 and re.fullmatch(r"[1-5](\d\d|xx)", words[1]):
                rec.status = words[1]
            elif len(words) != 1:
                raise FileError(f"{path}:{rec_line}: bad layout line {line!r}")
            rec.sql = "\n".join(body)
            try:
                json.loads(rec.sql)
            except ValueError as e:
                raise FileError(f"{path}:{rec_line}: layout body is not JSON: {e}")
        elif words[0] == "halt":
            pass
        else:
            raise FileError(f"{path}:{rec_line}: unknown record {line!r}")
        if rec.kind in ("statement", "query") and not rec.sql.strip():
            raise FileError(f"{path}:{rec_line}: record without SQL")
        if rec.node is not None and (rec.kind != "query" or rec.expected is None):
            raise FileError(f"{path}:{rec_line}: `node N` needs a query with expected rows")
        if rec.onlyif == "mosaic" and rec.kind == "query" and rec.expected is None:
            raise FileError(f"{path}:{rec_line}: `onlyif mosaic` query needs expected rows")
        if rec.mayrefuse and rec.kind not in ("statement", "query"):
            raise FileError(f"{path}:{rec_line}: mayrefuse on a {rec.kind} record")
        records.append(rec)
    return records


def parse_expected(rec: Record, ncols: int):
    """The expected rows of a query record as tuples of str/None."""
    lines = rec.expected
    conv = lambda v: None if v == "NULL" else ("" if v == "(empty)" else v)  # noqa: E731
    if ncols > 1 and lines and not any("\t" in ln for ln in lines):
        if len(lines) % ncols:
            raise FileError(f"{rec.where}: {len(lines)} expected values for {ncols} columns")
        return [tuple(conv(v) for v in lines[k:k + ncols]) for k in range(0, len(lines), ncols)]
    rows = []
    for ln in lines:
        vals = ln.split("\t")
        if len(vals) != ncols:
            raise FileError(f"{rec.where}: expected row {ln!r} has {len(vals)} values, "
                            f"the query {ncols} columns")
        rows.append(tuple(conv(v) for v in vals))
    return rows


# ------------------------------------------------------------------ executing

def _raw_text(value, cursor):
    return value


RAW_TEXT = psycopg2.extensions.new_type(
    tuple(sorted(set(psycopg2.extensions.string_types) | {2950})), "MOSAIC_RAW_TEXT", _raw_text)


def raw_text_connection(conn):
    """Make `conn` return every value as the exact text the server sent (None for NULL)."""
    psycopg2.extensions.register_type(RAW_TEXT, conn)
    conn.autocommit = True
    return conn


@dataclasses.dataclass
class Outcome:
    ok: bool
    columns: Optional[list] = None   # [(name, type_oid)] when the statement returned rows
    rows: Optional[list] = None      # [tuple of str/None]
    rowcount: int = -1
    status: str = ""                 # command tag
    sqlstate: Optional[str] = None
    message: str = ""
    broken: bool = False             # the connection failed (no SQLSTATE)

    def brief(self, limit=12):
        if self.broken:
            return f"CONNECTION FAILED: {self.message.strip()}"
        if not self.ok:
            return f"ERROR {self.sqlstate}: {self.message.strip()}"
        if self.columns is None:
            return f"OK {self.status}"
        rows = self.rows or []
        text = f"{len(rows)} rows, columns {self.columns}"
        for r in rows[:limit]:
            text += "\n      " + repr(r)
        if len(rows) > limit:
            text += f"\n      ... ({len(rows) - limit} more)"
        return text


def execute(conn, sql) -> Outcome:
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            out = Outcome(ok=True, rowcount=cur.rowcount, status=cur.statusmessage or "")
            if cur.description is not None:
                out.columns = [(d.name, d.type_code) for d in cur.description]
                out.rows = [tuple(r) for r in cur.fetchall()]
            return out
    except psycopg2.Error as e:
        if e.pgcode is None:
            return Outcome(ok=False, broken=True, message=str(e))
        msg = e.pgerror or str(e)
        return Outcome(ok=False, sqlstate=e.pgcode, message=msg)


def _sort_key(row):
    return tuple((0, "") if v is None else (1, v) for v in row)


def arrange(rows, mode):
    if mode == "rowsort":
        return sorted(rows, key=_sort_key)
    if mode == "valuesort":
        return sorted((v for r in rows for v in r), key=lambda v: _sort_key((v,)))
    return list(rows)


STATEMENT_TIMEOUT = float(os.environ.get("MOSAIC_SQL_STATEMENT_TIMEOUT", "30"))


def _cut(conn):
    from harness import cut_connection
    cut_connection(conn)


class Side:
    """One database the records run on: a connection factory that can reconnect. A statement
    that gets no answer within STATEMENT_TIMEOUT seconds has its connection cut (reported as a
    connection failure); the next record reconnects."""

    def __init__(self, name, connect):
        self.name = name
        self._connect = connect
        self.conn = None

    def get(self):
        if self.conn is None or self.conn.closed:
            self.conn = raw_text_connection(self._connect())
        return self.conn

    def run(self, sql) -> Outcome:
        try:
            conn = self.get()
        except Exception as e:  # psycopg2.Error, or the admin API down (node sides)
            return Outcome(ok=False, broken=True, message=f"cannot connect: {e}")
        fired = threading.Event()

        def on_timeout():
            fired.set()
            _cut(conn)

        timer = threading.Timer(STATEMENT_TIMEOUT, on_timeout)
        timer.daemon = True
        timer.start()
        try:
            out = execute(conn, sql)
        finally:
            timer.cancel()
        if out.broken:
            if fired.is_set():
                out.message = f"no answer within {STATEMENT_TIMEOUT:g} s: " + out.message
            self.reset()
        return out

    def reset(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None


@dataclasses.dataclass
class Failure:
    where: str
    sql: str
    reason: str
    subject: Optional[Outcome] = None
    reference: Optional[Outcome] = None

    def __str__(self):
        text = f"{self.where}: {self.reason}\n    SQL: {self.sql.strip()}"
        if self.subject is not None:
            text += f"\n    mosaic:    {self.subject.brief()}"
        if self.reference is not None:
            text += f"\n    reference: {self.reference.brief()}"
        return text


@dataclasses.dataclass
class Stats:
    records: int = 0        # records run (on at least one side)
    compared: int = 0       # records run on both sides and compared
    on_subject: int = 0     # statements executed on the subject (Mosaic)
    refused: int = 0        # 0A000 answers expected by `statement refused` / allowed by mayrefuse
    layouts: int = 0
    node_checks: int = 0
    skipped: int = 0

    def add(self, other):
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def __str__(self):
        return (f"{self.records} records ({self.compared} compared, {self.on_subject} statements "
                f"on mosaic, {self.refused} refused with 0A000, {self.layouts} layouts, "
                f"{self.node_checks} node checks, {self.skipped} skipped)")


class Runner:
    """Runs records on `subject` (Mosaic, or a second plain database in self-check mode) and
    `reference`. `post_layout(json_text) -> (status, body)` and `node_side(n) -> Side` are
    needed only when `self_check` is False."""

    def __init__(self, subject: Side, reference: Side, self_check=False, post_layout=None,
                 node_side=None, log=None, complete=False):
        self.subject = subject
        self.reference = reference
        self.self_check = self_check
        self.post_layout = post_layout
        self.node_side = node_side
        self.log = log or (lambda s: None)
        self.complete = complete
        self.rewrites = []  # (record, new expected lines) for --complete

    def run_file(self, path):
        stats, failures = Stats(), []
        records = parse_file(path)
        for rec in records:
            if rec.kind == "halt":
                break
            try:
                self._run(rec, stats, failures)
            except FileError as e:
                failures.append(Failure(rec.where, rec.sql, f"bad test file: {e}"))
        # leave no transaction open for the next file
        for side in (self.subject, self.reference):
            if side.conn is not None and not side.conn.closed:
                execute(side.conn, "ROLLBACK")
        return stats, failures

    # ---- one record
    def _run(self, rec: Record, stats: Stats, failures: list):
        mosaic_only = (rec.onlyif == "mosaic" or rec.kind == "layout" or rec.node is not None
                       or rec.expect == "refused")
        if self.self_check and mosaic_only:
            stats.skipped += 1
            return
        run_subject = rec.skipif != "mosaic" and rec.onlyif != "reference"
        run_reference = rec.onlyif != "mosaic" and not mosaic_only
        stats.records += 1

        if rec.kind == "layout":
            stats.layouts += 1
            status, body = self.post_layout(rec.sql)
            want = rec.status or "2xx"
            ok = str(status) == want or (want.endswith("xx") and str(status)[0] == want[0])
            if not ok:
                failures.append(Failure(rec.where, rec.sql,
                                        f"layout answered {status} (want "
                                        f"{want}): {body.strip()[:500]}"))
            return

        if rec.node is not None:
            stats.node_checks += 1
            out = self.node_side(rec.node).run(rec.sql)
            self._check_query_result(rec, out, None, failures, label=f"node {rec.node}")
            return

        subj = ref = None
        if run_subject:
            stats.on_subject += 1
            subj = self.subject.run(rec.sql)
        if run_reference:
            ref = self.reference.run(rec.sql)
        if subj is not None and ref is not None:
            stats.compared += 1

        fail = lambda reason: failures.append(Failure(rec.where, rec.sql, reason, subj, ref))  # noqa: E731

        for out, side in ((subj, "mosaic"), (ref, "reference")):
            if out is not None and out.broken:
                fail(f"{side}: the connection failed")
                return

        if rec.expect == "refused":
            if subj.ok or subj.sqlstate != "0A000":
                fail("mosaic must refuse this statement with 0A000")
            elif not subj.message.strip():
                fail("mosaic refused with 0A000 but without a message")
            else:
                stats.refused += 1
            return

        if rec.mayrefuse and subj is not None and not subj.ok and subj.sqlstate == "0A000":
            if not subj.message.strip():
                fail("mosaic refused with 0A000 but without a message")
            else:
                stats.refused += 1
            return

        if rec.kind == "statement":
            for out, side in ((subj, "mosaic"), (ref, "reference")):
                if out is None:
                    continue
                if rec.expect == "ok" and not out.ok:
                    fail(f"{side}: statement failed")
                    return
                if rec.expect == "error":
                    if out.ok:
                        fail(f"{side}: statement succeeded, expected error {rec.sqlstate}")
                        return
                    if out.sqlstate != rec.sqlstate:
                        fail(f"{side}: SQLSTATE {out.sqlstate}, expected {rec.sqlstate}")
                        return
            if rec.expect == "ok" and subj is not None and ref is not None:
                verb = ref.status.split()[0] if ref.status else ""
                if verb in ("INSERT", "UPDATE", "DELETE", "MERGE", "COPY") and \
                        (subj.status != ref.status or subj.rowcount != ref.rowcount):
                    fail(f"command tags differ: mosaic {subj.status!r}, "
                         f"reference {ref.status!r}")
            return

        # query
        self._check_query_result(rec, subj, ref, failures)

    def _check_query_result(self, rec, subj, ref, failures, label="mosaic"):
        fail = lambda reason: failures.append(Failure(rec.where, rec.sql, reason, subj, ref))  # noqa: E731
        for out, side in ((subj, label), (ref, "reference")):
            if out is None:
                continue
            if out.broken:
                fail(f"{side}: the connection failed")
                return
            if not out.ok:
                fail(f"{side}: query failed")
                return
            if out.columns is None:
                fail(f"{side}: the statement returned no result set")
                return
        first = subj if subj is not None else ref
        if subj is not None and ref is not None and subj.columns != ref.columns:
            fail(f"columns differ: {label} {subj.columns}, reference {ref.columns}")
            return
        if len(rec.types) != len(first.columns):
            failures.append(Failure(rec.where, rec.sql,
                                    f"bad test file: {len(rec.types)} type letters for "
                                    f"{len(first.columns)} columns", subj, ref))
            return
        for letter, (name, oid) in zip(rec.types, first.columns):
            if (letter == "I" and oid not in INT_OIDS) or (letter == "R" and oid not in REAL_OIDS):
                failures.append(Failure(rec.where, rec.sql,
                                        f"bad test file (or wrong type): column {name!r} has "
                                        f"type oid {oid}, declared {letter!r}", subj, ref))
                return
        if subj is not None and ref is not None:
            a, b = arrange(subj.rows, rec.sort), arrange(ref.rows, rec.sort)
            if a != b:
                fail("results differ" + _first_difference(a, b))
                return
        if rec.expected is not None and self.complete and ref is not None:
            got = arrange(ref.rows, rec.sort)
            if rec.sort == "valuesort":
                lines = [_fmt(v) for v in got]
            else:
                lines = ["\t".join(_fmt(v) for v in r) for r in got]
            if lines != rec.expected:
                self.rewrites.append((rec, lines))
            return
        if rec.expected is not None:
            got = arrange(first.rows, rec.sort)
            want = parse_expected(rec, len(first.columns))
            want = arrange(want, rec.sort) if rec.sort == "rowsort" else (
                sorted((v for r in want for v in r), key=lambda v: _sort_key((v,)))
                if rec.sort == "valuesort" else want)
            if got != want:
                failures.append(Failure(
                    rec.where, rec.sql,
                    f"{label if subj is not None else 'reference'} result differs from the "
                    f"expected rows{_first_difference(got, want)}\n    expected: "
                    + "\n      ".join(repr(w) for w in want[:12]), subj, ref))


def _fmt(v):
    return "NULL" if v is None else ("(empty)" if v == "" else v)


def rewrite_expected(rewrites):
    """--complete: replace expected sections in the files with the reference's results."""
    by_path = {}
    for rec, lines in rewrites:
        by_path.setdefault(rec.path, []).append((rec, lines))
    for path, items in by_path.items():
        with open(path, encoding="utf-8") as f:
            text = f.read().split("\n")
        for rec, lines in sorted(items, key=lambda x: -x[0].expected_at):
            start = rec.expected_at
            text[start:start + len(rec.expected)] = lines
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(text))
        print(f"{os.path.relpath(path)}: rewrote {len(items)} expected sections")


def _first_difference(a, b):
    if len(a) != len(b):
        return f" ({len(a)} vs {len(b)} rows)"
    for k, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f" (first at row {k}: {x!r} vs {y!r})"
    return ""


def find_test_files(pattern="*.test"):
    return sorted(glob.glob(os.path.join(SQL_DIR, pattern)))


# ------------------------------------------------------------------ plain PostgreSQL

def _free_port():
    try:
        from harness import allocate_ports
        return allocate_ports(1)[0]
    except ImportError:  # pragma: no cover
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port


def _pdeathsig():
    """In the child: die with the parent (after the uid change, which would clear it)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class PlainPostgres:
    """A genuinely plain PostgreSQL 15 cluster for reference results: initdb --no-locale
    --encoding=UTF8 (as Mosaic's managed nodes), superuser `mosaic`, trust auth, loopback only,
    in a fresh directory under $MOSAIC_E2E_TMPDIR (default /var/tmp). As root it runs as the OS
    user postgres."""

    def __init__(self, databases=("mosaic",), user="mosaic"):
        self.user = user
        self.databases = list(databases)
        self.host = "127.0.0.1"
        self.port = None
        self.proc = None
        self.base_dir = tempfile.mkdtemp(prefix="mosaic-reference-pg-",
                                         dir=os.environ.get("MOSAIC_E2E_TMPDIR") or "/var/tmp")
        self.data_dir = os.path.join(self.base_dir, "data")
        self.log_path = os.path.join(self.base_dir, "postgres.log")
        self._run_as = {}
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.base_dir, pw.pw_uid, pw.pw_gid)
            self._run_as = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])

    def start(self, timeout=60):
        try:
            self._start(timeout)
        except Exception:
            self.stop()
            raise
        return self

    def _start(self, timeout):
        with open(os.path.join(self.base_dir, "initdb.log"), "wb") as log:
            r = subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", self.data_dir,
                                "-U", self.user, "--auth=trust", "--encoding=UTF8",
                                "--no-locale", "--no-sync", "--no-instructions"],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               cwd=self.base_dir, **self._run_as)
        if r.returncode != 0:
            raise RuntimeError("initdb failed:\n" + self._tail("initdb.log"))
        for attempt in range(5):
            self.port = _free_port()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [os.path.join(PG_BIN, "postgres"), "-D", self.data_dir, "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=50"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.base_dir, preexec_fn=_pdeathsig, **self._run_as)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    c = psycopg2.connect(**self.dsn("postgres"))
                    c.autocommit = True
                    with c.cursor() as cur:
                        for db in self.databases:
                            cur.execute(f'CREATE DATABASE "{db}"')
                    c.close()
                    return
                except psycopg2.OperationalError:
                    time.sleep(0.1)
            self.stop_server()
        raise RuntimeError("reference postgres did not start:\n" + self._tail("postgres.log"))

    def _tail(self, name, n=40):
        try:
            with open(os.path.join(self.base_dir, name), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def dsn(self, dbname="mosaic"):
        return dict(host=self.host, port=self.port, user=self.user, dbname=dbname,
                    connect_timeout=10)

    def connect(self, dbname="mosaic"):
        conn = psycopg2.connect(**self.dsn(dbname))
        try:
            from harness import conn_registry
            conn_registry.add(conn)
        except ImportError:  # pragma: no cover
            pass
        return conn

    def stop_server(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def stop(self):
        self.stop_server()
        if not os.environ.get("MOSAIC_E2E_KEEP"):
            shutil.rmtree(self.base_dir, ignore_errors=True)


# ------------------------------------------------------------------ Mosaic glue

def mosaic_post_layout(mosaic):
    """post_layout for Runner: POST /api/v1/layout on `mosaic`'s admin port."""

    def post(body, path="/api/v1/layout"):
        req = urllib.request.Request(f"http://{mosaic.host}:{mosaic.admin_port}{path}",
                                     data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as e:
            return 0, f"request failed: {e}"

    return post


def mosaic_node_sides(mosaic):
    """node_side for Runner: a Side per managed node id, connecting directly."""
    sides = {}

    def node_side(node_id):
        if node_id not in sides:
            def connect(node_id=node_id):
                for node in mosaic.nodes():
                    if int(node.get("id", -1)) == node_id:
                        return mosaic.connect_node(node)
                raise psycopg2.OperationalError(f"no node with id {node_id} in /api/v1/nodes")
            sides[node_id] = Side(f"node {node_id}", connect)
        return sides[node_id]

    return node_side


def run_files(runner, files, out=print):
    total, all_failures = Stats(), []
    for path in files:
        stats, failures = runner.run_file(path)
        total.add(stats)
        all_failures += failures
        out(f"{os.path.relpath(path)}: {stats}; {len(failures)} failures")
        for f in failures:
            out(str(f))
    out(f"TOTAL: {total}; {len(all_failures)} failures")
    return total, all_failures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="test files (default: tests/sql/*.test)")
    ap.add_argument("--self-check", action="store_true",
                    help="run both sides against plain PostgreSQL (validates expected results)")
    ap.add_argument("--complete", action="store_true",
                    help="with --self-check: rewrite existing expected sections (`----`) with "
                         "the reference's results (review the diff!)")
    args = ap.parse_args(argv)
    files = args.files or find_test_files()
    if args.self_check:
        pg = PlainPostgres(databases=("mosaic", "subject")).start()
        try:
            runner = Runner(Side("subject", lambda: pg.connect("subject")),
                            Side("reference", lambda: pg.connect("mosaic")), self_check=True,
                            complete=args.complete)
            _, failures = run_files(runner, files)
            if args.complete:
                rewrite_expected(runner.rewrites)
        finally:
            pg.stop()
    else:
        sys.path.insert(0, E2E_DIR)
        from harness import Mosaic, serving
        pg = PlainPostgres().start()
        try:
            with serving(Mosaic(nodes=3, name="sqllogic")) as m:
                runner = Runner(Side("mosaic", m.connect), Side("reference", pg.connect),
                                post_layout=mosaic_post_layout(m),
                                node_side=mosaic_node_sides(m))
                _, failures = run_files(runner, files)
        finally:
            pg.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
