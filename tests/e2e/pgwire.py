"""A minimal PostgreSQL v3 wire-protocol client on raw sockets (python struct).

Used by the end-to-end tests that must send exactly the bytes they mean to send
(malformed messages, SSLRequest, hand-written extended protocol, SCRAM by hand).
"""

import base64
import hashlib
import hmac
import os
import socket
import struct

PROTOCOL_3_0 = 196608
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102


class ProtocolError(Exception):
    pass


class ServerError(Exception):
    """An ErrorResponse; .fields maps field type char to value ('S', 'C', 'M', ...)."""

    def __init__(self, fields):
        self.fields = fields
        super().__init__(f"{fields.get('S')} {fields.get('C')}: {fields.get('M')}")

    @property
    def sqlstate(self):
        return self.fields.get("C")

    @property
    def severity(self):
        return self.fields.get("V") or self.fields.get("S")


# ---------------------------------------------------------------- encoding

def cstr(s):
    if isinstance(s, str):
        s = s.encode()
    return s + b"\x00"


def message(type_byte, payload=b""):
    if isinstance(type_byte, str):
        type_byte = type_byte.encode()
    return type_byte + struct.pack("!i", len(payload) + 4) + payload


def startup_packet(params, protocol=PROTOCOL_3_0):
    body = struct.pack("!i", protocol)
    for k, v in params.items():
        body += cstr(k) + cstr(v)
    body += b"\x00"
    return struct.pack("!i", len(body) + 4) + body


def ssl_request():
    return struct.pack("!ii", 8, SSL_REQUEST_CODE)


def gssenc_request():
    return struct.pack("!ii", 8, GSSENC_REQUEST_CODE)


def cancel_request(pid, key):
    return struct.pack("!iiii", 16, CANCEL_REQUEST_CODE, pid, key)


def query_msg(sql):
    return message("Q", cstr(sql))


def parse_msg(name, sql, param_types=()):
    payload = cstr(name) + cstr(sql) + struct.pack("!h", len(param_types))
    for oid in param_types:
        payload += struct.pack("!i", oid)
    return message("P", payload)


def bind_msg(portal, statement, params=(), result_formats=()):
    """Bind with all parameters in text format; None is SQL NULL."""
    payload = cstr(portal) + cstr(statement)
    payload += struct.pack("!h", 0)  # all parameters in text format
    payload += struct.pack("!h", len(params))
    for p in params:
        if p is None:
            payload += struct.pack("!i", -1)
        else:
            b = str(p).encode()
            payload += struct.pack("!i", len(b)) + b
    payload += struct.pack("!h", len(result_formats))
    for f in result_formats:
        payload += struct.pack("!h", f)
    return message("B", payload)


def describe_msg(kind, name):
    return message("D", kind.encode() + cstr(name))


def execute_msg(portal="", max_rows=0):
    return message("E", cstr(portal) + struct.pack("!i", max_rows))


def close_msg(kind, name):
    return message("C", kind.encode() + cstr(name))


def sync_msg():
    return message("S")


def flush_msg():
    return message("H")


def terminate_msg():
    return message("X")


# ---------------------------------------------------------------- decoding

def parse_error_fields(payload):
    fields = {}
    i = 0
    while i < len(payload) and payload[i] != 0:
        code = chr(payload[i])
        end = payload.index(b"\x00", i + 1)
        fields[code] = payload[i + 1:end].decode(errors="replace")
        i = end + 1
    return fields


def parse_data_row(payload, raw=False):
    """The values of a DataRow: str (bytes when `raw`, or when a value is not UTF-8, e.g. a
    binary-format one); None for NULL."""
    (n,) = struct.unpack_from("!h", payload, 0)
    pos = 2
    values = []
    for _ in range(n):
        (ln,) = struct.unpack_from("!i", payload, pos)
        pos += 4
        if ln < 0:
            values.append(None)
        else:
            value = payload[pos:pos + ln]
            if not raw:
                try:
                    value = value.decode()
                except UnicodeDecodeError:
                    pass
            values.append(value)
            pos += ln
    return values


class Result:
    """What came back for one batch ending in ReadyForQuery."""

    def __init__(self):
        self.messages = []   # list of (type, payload)
        self.rows = []
        self.tags = []
        self.errors = []     # list of field dicts
        self.notices = []
        self.status = None   # ReadyForQuery transaction status: 'I', 'T', 'E'
        self.param_status = []  # ParameterStatus (name, value) received in between

    def types(self):
        """Message type letters, leaving out asynchronous ParameterStatus messages."""
        return "".join(t for t, _ in self.messages if t != "S")


class PgConn:
    def __init__(self, host, port, timeout=15.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.params = {}
        self.startup_params = {}
        self.backend_pid = None
        self.backend_key = None

    # ---- raw I/O
    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed by server (had {len(self.buf)} of {n} bytes)")
            self.buf += chunk

    def recv_exact(self, n):
        self._fill(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_msg(self):
        hdr = self.recv_exact(5)
        t = chr(hdr[0])
        (ln,) = struct.unpack("!i", hdr[1:5])
        if ln < 4:
            raise ProtocolError(f"bad length {ln} for message {t!r}")
        return t, self.recv_exact(ln - 4)

    def pending_messages(self, wait=0.5):
        """Messages that arrive within `wait` seconds, without blocking longer
        (incomplete trailing bytes stay buffered)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except socket.timeout:
            pass
        finally:
            self.sock.settimeout(old)
        out = []
        while len(self.buf) >= 5:
            (ln,) = struct.unpack("!i", self.buf[1:5])
            if len(self.buf) < 1 + ln:
                break
            out.append((chr(self.buf[0]), self.buf[5:1 + ln]))
            self.buf = self.buf[1 + ln:]
        return out

    def wait_closed(self, timeout=5.0):
        """True if the server closes the socket (EOF or reset) within timeout.

        Any bytes still arriving before the close are collected in self.buf."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- startup / authentication
    def startup(self, user="mosaic", database="mosaic", password=None, extra=None):
        params = {"user": user, "database": database}
        if extra:
            params.update(extra)
        self.send(startup_packet(params))
        return self.finish_startup(user=user, password=password)

    def finish_startup(self, user="mosaic", password=None):
        """Run authentication; return the Result up to ReadyForQuery, raise ServerError."""
        scram = None
        res = Result()
        while True:
            t, p = self.read_msg()
            res.messages.append((t, p))
            if t == "R":
                (code,) = struct.unpack_from("!i", p, 0)
                if code == 0:
                    continue
                if code == 3:  # cleartext
                    self.send(message("p", cstr(password or "")))
                elif code == 5:  # md5
                    salt = p[4:8]
                    inner = hashlib.md5((password or "").encode() + user.encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + salt).hexdigest()
                    self.send(message("p", cstr("md5" + outer)))
                elif code == 10:  # SASL
                    mechs = [m for m in p[4:].split(b"\x00") if m]
                    if b"SCRAM-SHA-256" not in mechs:
                        raise ProtocolError(f"no SCRAM-SHA-256 in {mechs}")
                    scram = ScramClient(password or "")
                    first = scram.client_first().encode()
                    self.send(message("p", cstr("SCRAM-SHA-256") + struct.pack("!i", len(first)) + first))
                elif code == 11:  # SASLContinue
                    final = scram.client_final(p[4:].decode()).encode()
                    self.send(message("p", final))
                elif code == 12:  # SASLFinal
                    scram.verify_server_final(p[4:].decode())
                else:
                    raise ProtocolError(f"unsupported authentication request {code}")
            elif t == "S":
                k, v, _ = p.split(b"\x00", 2)
                self.params[k.decode()] = v.decode()
            elif t == "K":
                self.backend_pid, self.backend_key = struct.unpack("!ii", p)
            elif t == "E":
                raise ServerError(parse_error_fields(p))
            elif t == "N":
                res.notices.append(parse_error_fields(p))
            elif t == "Z":
                res.status = chr(p[0])
                self.startup_params = dict(self.params)
                return res
            else:
                raise ProtocolError(f"unexpected message {t!r} during startup")

    # ---- query helpers
    def read_until_ready(self):
        res = Result()
        while True:
            t, p = self.read_msg()
            res.messages.append((t, p))
            if t == "D":
                res.rows.append(parse_data_row(p))
            elif t == "C":
                res.tags.append(p.rstrip(b"\x00").decode())
            elif t == "E":
                res.errors.append(parse_error_fields(p))
            elif t == "N":
                res.notices.append(parse_error_fields(p))
            elif t == "S":
                k, v, _ = p.split(b"\x00", 2)
                res.param_status.append((k.decode(), v.decode()))
                self.params[k.decode()] = v.decode()
            elif t == "Z":
                res.status = chr(p[0])
                return res

    def simple(self, sql):
        self.send(query_msg(sql))
        return self.read_until_ready()

    def extended(self, sql, params=(), param_types=()):
        """One statement as JDBC and psycopg 3 send it: unnamed Parse (with `param_types`),
        Bind of text `params`, Execute, Sync."""
        self.send(parse_msg("", sql, param_types) + bind_msg("", "", params) + execute_msg() + sync_msg())
        return self.read_until_ready()


# ---------------------------------------------------------------- SCRAM-SHA-256

def _hmac(key, msg):
    return hmac.new(key, msg.encode() if isinstance(msg, str) else msg, hashlib.sha256).digest()


class ScramClient:
    def __init__(self, password):
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.client_first_bare = f"n=,r={self.nonce}"
        self.server_signature = None

    def client_first(self):
        return "n,," + self.client_first_bare

    def client_final(self, server_first):
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        rnonce, salt, iters = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not rnonce.startswith(self.nonce):
            raise ProtocolError("server nonce does not extend the client nonce")
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iters)
        client_key = _hmac(salted, "Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={rnonce}"
        auth_message = f"{self.client_first_bare},{server_first},{without_proof}"
        client_sig = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_sig))
        self.server_signature = _hmac(_hmac(salted, "Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}"

    def verify_server_final(self, server_final):
        attrs = dict(kv.split("=", 1) for kv in server_final.split(","))
        if "e" in attrs:
            raise ProtocolError(f"SCRAM server error {attrs['e']}")
        if base64.b64decode(attrs["v"]) != self.server_signature:
            raise ProtocolError("SCRAM server signature mismatch")
