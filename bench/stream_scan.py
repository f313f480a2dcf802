#!/usr/bin/python3
"""A large scan over two nodes through the router: time to first row, total time and the router's
peak memory (VmHWM of /proc/<pid>/status) for SELECT * and SELECT * ... ORDER BY k over 2 x 100 MB
(100,000 rows of 1 kB per node, inserted on the nodes directly), and the ORDER BY again read by a
slow client. Reads the protocol itself (tests/e2e/pgwire.py for startup), so the client holds no
rows.

Usage: MOSAIC_BIN=build/mosaic bench/stream_scan.py
"""
import os, struct, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import pgwire
from harness import Mosaic, serving

PER_NODE = 100_000  # rows of ~1 kB per node

def vm(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) // 1024
    return -1

def scan(m, sql, slow=False):
    c = pgwire.PgConn(m.host, m.port, timeout=600)
    c.startup()
    s = c.sock
    s.sendall(pgwire.query_msg(sql))
    t0 = time.monotonic(); first = None; rows = 0; buf = bytearray(); pos = 0; done = False; tag = None
    while not done:
        chunk = s.recv(1 << 16 if slow else 1 << 20)
        if slow: time.sleep(0.0005)
        if not chunk: raise EOFError
        buf += chunk
        while len(buf) - pos >= 5:
            ln = struct.unpack_from("!i", buf, pos + 1)[0]
            if len(buf) - pos < 1 + ln: break
            t = buf[pos]
            if t == ord('D'):
                rows += 1
                if first is None: first = time.monotonic() - t0
            elif t == ord('C'): tag = bytes(buf[pos + 5:pos + ln]).rstrip(b"\0").decode()
            elif t == ord('E'): tag = "ERROR " + bytes(buf[pos + 5:pos + ln]).decode(errors="replace")[:120]
            elif t == ord('Z'): done = True
            pos += 1 + ln
        if pos > (1 << 22): del buf[:pos]; pos = 0
    total = time.monotonic() - t0
    c.close()
    return first, total, rows, tag

with serving(Mosaic(nodes=2, name="measure")) as m:
    c = m.connect(); c.autocommit = True; cur = c.cursor()
    cur.execute("CREATE TABLE big (k int8 PRIMARY KEY, pad text NOT NULL)")
    status, body = m.admin_post("/api/v1/layout", {"tables": ["big"], "tenant": None, "column": "k",
                                                   "ranges": [{"upper": str(PER_NODE), "node": 1}, {"node": 2}]})
    assert status == 200, body
    for n in m.nodes():
        nc = m.connect_node(n); nc.autocommit = True
        lo = (int(n["id"]) - 1) * PER_NODE
        nc.cursor().execute("INSERT INTO big SELECT g, repeat(md5(g::text), 32) FROM generate_series(%s, %s) g", (lo, lo + PER_NODE - 1))
        nc.cursor().execute("VACUUM ANALYZE big")
        nc.close()
    pid = m.proc.pid
    print(os.path.basename(os.environ["MOSAIC_BIN"]), "router VmHWM at start", vm(pid, "VmHWM"), "MiB")
    for sql, slow in (("SELECT * FROM big", False), ("SELECT * FROM big ORDER BY k", False),
                      ("SELECT * FROM big ORDER BY k", True)):
        first, total, rows, tag = scan(m, sql, slow)
        sql += " (slow client)" if slow else ""
        print(f"{sql!r}: first row {first*1000:.1f} ms, all {total:.2f} s, rows {rows}, tag {tag}, "
              f"VmHWM {vm(pid, 'VmHWM')} MiB, VmRSS {vm(pid, 'VmRSS')} MiB")
