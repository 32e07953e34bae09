"""The Postgres wire protocol message by message, where client libraries hide the details:
SSLRequest answers (and TLS with a certificate, through psql and psycopg), BackendKeyData and
the startup parameters, portals with row limits (PortalSuspended), error recovery until Sync,
and a malformed message closing that connection only."""

import shutil
import struct
import subprocess

import psycopg
import pytest

from pg_wire import Wire, bind, cstr, data_rows, error_fields, execute, kinds, parse
from tarn_server import TarnServer

PSQL = shutil.which("psql")


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    srv = TarnServer(tmp_path_factory.mktemp("wire") / "wh", "--insecure-no-auth", http=False, flight=False)
    yield srv
    srv.stop()


def test_startup_reports_key_data_and_parameters(open_server):
    wire = Wire(open_server.pg_port)
    messages = wire.startup()
    assert b"K" in kinds(messages), "BackendKeyData is sent so clients can cancel"
    params = {}
    for kind, body in messages:
        if kind == b"S":
            name, value = body.rstrip(b"\0").split(b"\0")
            params[name.decode()] = value.decode()
    assert params["server_version"].startswith("16.6")
    assert params["standard_conforming_strings"] == "on"
    assert params["client_encoding"] == "UTF8"
    assert params["DateStyle"].startswith("ISO")
    assert params["integer_datetimes"] == "on"
    assert params["application_name"] == "wire-test"


def test_ssl_request_is_declined_without_a_certificate(open_server):
    wire = Wire(open_server.pg_port)
    wire.raw(struct.pack("!II", 8, 80877103))
    assert wire.read_byte() == b"N"
    # The same connection then starts in plain text.
    assert kinds(wire.startup())[-1] == b"Z"
    with pytest.raises(psycopg.OperationalError, match="(?i)ssl"):
        psycopg.connect(open_server.dsn(password="", sslmode="require"))
    with psycopg.connect(open_server.dsn(password="", sslmode="prefer")) as conn:
        assert conn.pgconn.ssl_in_use is False


def test_portal_row_limits_suspend_and_resume(open_server):
    wire = Wire(open_server.pg_port)
    wire.startup()
    wire.send(b"P", parse("", "SELECT x FROM generate_series(1, 5) AS t(x) ORDER BY x"))
    wire.send(b"B", bind("p1", ""))
    wire.send(b"E", execute("p1", 2))
    wire.send(b"E", execute("p1", 2))
    wire.send(b"E", execute("p1", 0))
    wire.send(b"S")
    messages = wire.until_ready()
    assert kinds(messages) == [b"1", b"2", b"D", b"D", b"s", b"D", b"D", b"s", b"D", b"C", b"Z"]
    assert data_rows(messages) == [("1",), ("2",), ("3",), ("4",), ("5",)]


def test_errors_skip_to_sync_and_the_connection_recovers(open_server):
    wire = Wire(open_server.pg_port)
    wire.startup()
    # The Bind fails (no such table at Parse), so Describe/Execute are skipped until Sync.
    wire.send(b"P", parse("", "SELECT * FROM no_such_table"))
    wire.send(b"B", bind("", ""))
    wire.send(b"E", execute("", 0))
    wire.send(b"S")
    messages = wire.until_ready()
    assert kinds(messages) == [b"E", b"Z"]
    assert error_fields(messages[0][1])["C"] == "42P01"
    wire.send(b"P", parse("ok", "SELECT $1::int + 1"))
    wire.send(b"B", bind("", "ok", ["41"]))
    wire.send(b"E", execute("", 0))
    wire.send(b"S")
    messages = wire.until_ready()
    assert data_rows(messages) == [("42",)]
    # The simple protocol after an error works too.
    wire.send(b"Q", cstr("SELEC 1"))
    messages = wire.until_ready()
    assert error_fields(messages[0][1])["C"] == "42601"
    wire.send(b"Q", cstr("SELECT 'still here'"))
    assert data_rows(wire.until_ready()) == [("still here",)]


def test_a_malformed_message_closes_only_its_connection(open_server):
    healthy = Wire(open_server.pg_port)
    healthy.startup()
    broken = Wire(open_server.pg_port)
    broken.startup()
    # A message whose length field is impossible (shorter than itself).
    broken.raw(b"Q" + struct.pack("!I", 2) + b"junk")
    assert broken.closed()
    garbage = Wire(open_server.pg_port)
    garbage.raw(b"\xff" * 64)
    assert garbage.closed()
    healthy.send(b"Q", cstr("SELECT 1"))
    assert data_rows(healthy.until_ready()) == [("1",)]
    with psycopg.connect(open_server.dsn(password=""), autocommit=True) as conn:
        assert conn.execute("SELECT 2").fetchone() == (2,)


def make_certificate(directory):
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_with_a_certificate(tmp_path):
    cert, key = make_certificate(tmp_path)
    srv = TarnServer(tmp_path / "wh", "--pg-tls-cert", str(cert), "--pg-tls-key", str(key), http=False, flight=False)
    try:
        wire = Wire(srv.pg_port)
        wire.raw(struct.pack("!II", 8, 80877103))
        assert wire.read_byte() == b"S"
        # verify-full: the client checks the certificate against the CA and the host name.
        with psycopg.connect(srv.dsn(sslmode="verify-full", sslrootcert=str(cert)), autocommit=True) as conn:
            assert conn.pgconn.ssl_in_use is True
            assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
        # Plain text still works for clients that do not ask for TLS.
        with psycopg.connect(srv.dsn(sslmode="disable"), autocommit=True) as conn:
            assert conn.pgconn.ssl_in_use is False
        assert PSQL, "psql is installed by scripts/test.sh"
        out = subprocess.run([PSQL, "-X", "-At", srv.dsn(password="", sslmode="require"), "-c", "SELECT 'over tls'"],
                             capture_output=True, text=True, timeout=60, env={"PGPASSWORD": srv.secret})
        assert out.returncode == 0 and out.stdout.strip() == "over tls", out.stderr
    finally:
        srv.stop()


def test_tls_configuration_errors_are_clear(tmp_path):
    cert, key = make_certificate(tmp_path)
    cases = [
        (["--pg-tls-cert", str(cert)], "both --pg-tls-cert and --pg-tls-key"),
        (["--pg-tls-cert", str(tmp_path / "missing.crt"), "--pg-tls-key", str(key)], "missing.crt"),
        (["--pg-tls-cert", str(key), "--pg-tls-key", str(key)], "no certificate"),
    ]
    for args, message in cases:
        out = subprocess.run([TarnServer.binary(), "--warehouse", str(tmp_path / "wh"), "serve", "--pg-addr", "127.0.0.1:0",
                              "--http-addr", "off", "--flight-addr", "off", *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and message in out.stderr, (args, out.stderr)
