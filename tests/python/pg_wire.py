"""Just enough of a Postgres frontend to speak the wire protocol message by message, for tests
that need what client libraries hide (row limits, pipelined errors, cut connections)."""

import socket
import struct


class Wire:
    """Just enough of a frontend to send messages and read the backend's, by type."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def send(self, kind, payload=b""):
        self.sock.sendall(kind + struct.pack("!I", len(payload) + 4) + payload)

    def raw(self, data):
        self.sock.sendall(data)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_byte(self):
        return self._read(1)

    def message(self):
        kind = self._read(1)
        (length,) = struct.unpack("!I", self._read(4))
        return kind, self._read(length - 4)

    def until_ready(self):
        """Every message up to and including ReadyForQuery."""
        out = []
        while True:
            kind, body = self.message()
            out.append((kind, body))
            if kind == b"Z":
                return out

    def startup(self, user="admin", database="main"):
        params = f"user\0{user}\0database\0{database}\0application_name\0wire-test\0\0".encode()
        body = struct.pack("!I", 196608) + params
        self.raw(struct.pack("!I", len(body) + 4) + body)
        return self.until_ready()

    def closed(self):
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionError, socket.timeout):
            return True


def cstr(s):
    return s.encode() + b"\0"


def parse(name, sql):
    return cstr(name) + cstr(sql) + struct.pack("!H", 0)


def bind(portal, statement, params=()):
    out = cstr(portal) + cstr(statement) + struct.pack("!H", 0) + struct.pack("!H", len(params))
    for p in params:
        data = p.encode()
        out += struct.pack("!I", len(data)) + data
    return out + struct.pack("!H", 0)


def execute(portal, max_rows):
    return cstr(portal) + struct.pack("!I", max_rows)


def kinds(messages):
    return [k for k, _ in messages]


def data_rows(messages):
    rows = []
    for kind, body in messages:
        if kind == b"D":
            (n,) = struct.unpack("!H", body[:2])
            pos, row = 2, []
            for _ in range(n):
                (length,) = struct.unpack("!i", body[pos:pos + 4])
                pos += 4
                row.append(None if length < 0 else body[pos:pos + length].decode())
                pos += max(length, 0)
            rows.append(tuple(row))
    return rows


def error_fields(body):
    return {chr(part[0]): part[1:].decode() for part in body.split(b"\0") if part}
