"""`tarn serve`'s Postgres wire protocol, driven by real clients: psql (including its `\\d`
commands) and psycopg 3 (server-side and client-side parameters, prepared statements, binary
results, server-side cursors, COPY TO STDOUT, cancellation), with SCRAM passwords."""

import datetime
import decimal
import os
import shutil
import subprocess
import threading
import time

import psycopg
import pytest

from tarn_server import TARN, TarnServer

PSQL = shutil.which("psql")


class Server(TarnServer):
    """`tarn serve` with the Postgres and HTTP listeners."""

    def __init__(self, warehouse, *extra):
        super().__init__(warehouse, *extra, flight=False)

    def connect(self, **kwargs):
        return self.psycopg(**kwargs)


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "wh")
    assert srv.secret and srv.secret.startswith("tarn_")
    yield srv
    srv.stop()


def setup_people(conn):
    conn.execute("CREATE TABLE people (id BIGINT NOT NULL, name STRING, score DOUBLE, "
                 "balance DECIMAL(10,2), active BOOLEAN, born DATE, seen TIMESTAMP, tags ARRAY<STRING>)")
    conn.execute("INSERT INTO people VALUES "
                 "(1, 'ada', 9.5, 10.25, true, DATE '1815-12-10', TIMESTAMP '2024-01-01 10:00:00', array('x', 'y')), "
                 "(2, 'bob', NULL, NULL, NULL, NULL, NULL, NULL)")


def test_types_round_trip_in_text_and_binary(server):
    with server.connect() as conn:
        setup_people(conn)
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            cur.execute("SELECT * FROM people ORDER BY id")
            assert [c.name for c in cur.description] == [
                "id", "name", "score", "balance", "active", "born", "seen", "tags"]
            assert [c.type_code for c in cur.description][:7] == [20, 25, 701, 1700, 16, 1082, 1184]
            ada, bob = cur.fetchall()
            assert ada[:6] == (1, "ada", 9.5, decimal.Decimal("10.25"), True, datetime.date(1815, 12, 10))
            assert ada[6] == datetime.datetime(2024, 1, 1, 10, 0, tzinfo=datetime.timezone.utc)
            assert ada[7] == ["x", "y"]
            assert bob == (2, "bob", None, None, None, None, None, None)


def test_nested_and_narrow_types_in_text_and_binary(server):
    with server.connect() as conn:
        conn.execute("CREATE TABLE shapes (s STRUCT<a: INT, b: STRING>, ntz TIMESTAMP_NTZ, raw BINARY, f FLOAT, "
                     "small SMALLINT, tiny TINYINT, m MAP<STRING, INT>)")
        conn.execute("INSERT INTO shapes VALUES (named_struct('a', 1, 'b', 'x'), TIMESTAMP '2024-01-02 03:04:05', "
                     "X'CAFE', 1.5, 7, -3, map('k', 1))")
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            cur.execute("SELECT s, ntz, raw, f, small, tiny, m, array(array(1, 2), array(3)) AS nested FROM shapes")
            # record, timestamp (no time zone), bytea, float4, int2, int2 (one-byte ints widen),
            # and text for what Postgres has no type for (maps, arrays of arrays).
            assert [c.type_code for c in cur.description] == [2249, 1114, 17, 700, 21, 21, 25, 25]
            [row] = cur.fetchall()
            assert row[1:] == (datetime.datetime(2024, 1, 2, 3, 4, 5), b"\xca\xfe", 1.5, 7, -3, "{k: 1}", "[[1, 2], [3]]")
            # A record's fields arrive typed in binary format, as text in text format.
            assert row[0] == ((1, "x") if binary else ("1", "x"))


def test_parameters_server_and_client_side(server):
    with server.connect() as conn:
        setup_people(conn)
        # Server-side binding (extended protocol); strings go as unknown, numbers typed.
        cur = conn.execute("SELECT name FROM people WHERE id = %s AND name = %s", (1, "ada"))
        assert cur.fetchall() == [("ada",)]
        # A value is data, never SQL.
        cur = conn.execute("SELECT count(*) FROM people WHERE name = %s", ("x'; DROP TABLE people; --",))
        assert cur.fetchall() == [(0,)]
        cur = conn.execute("INSERT INTO people (id, name, score, born) VALUES (%s, %s, %s, %s)",
                           (3, "cy", 1.5, datetime.date(2000, 1, 2)))
        assert cur.rowcount == 1
        cur = conn.execute("UPDATE people SET score = %s WHERE id >= %s", (7.0, 2))
        assert cur.rowcount == 2
        cur = conn.execute("DELETE FROM people WHERE id = %s", (2,))
        assert cur.rowcount == 1
        # Prepared statements are reused across executions.
        for i in range(3):
            cur = conn.execute("SELECT id, score FROM people WHERE id = %s", (3,), prepare=True)
            assert cur.fetchall() == [(3, 7.0)]
        # Client-side binding (simple protocol).
        ccur = psycopg.ClientCursor(conn)
        ccur.execute("SELECT id, name FROM people WHERE name IN (%s, %s) ORDER BY id", ("ada", "cy"))
        assert ccur.fetchall() == [(1, "ada"), (3, "cy")]
        # Parameter types are inferred when the client sends none.
        assert conn.execute("SELECT %s::int + 1", (41,)).fetchall() == [(42,)]


def test_server_side_cursor_streams_in_batches(server):
    with server.connect() as conn:
        with conn.transaction():
            cur = conn.cursor(name="big")
            cur.execute("SELECT x FROM generate_series(1, 250000) AS t(x)")
            total, batches = 0, 0
            while rows := cur.fetchmany(50000):
                total += sum(r[0] for r in rows)
                batches += 1
            cur.close()
        assert batches == 5
        assert total == 250000 * 250001 // 2


def test_copy_to_stdout(server):
    with server.connect() as conn:
        setup_people(conn)
        cur = conn.cursor()
        with cur.copy("COPY (SELECT id, name, score FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            text = b"".join(bytes(chunk) for chunk in copy).decode()
        assert text == "id,name,score\n1,ada,9.5\n2,bob,\n"
        with cur.copy("COPY people (id, name) TO STDOUT") as copy:
            assert sorted(copy.rows()) == [("1", "ada"), ("2", "bob")]
        with cur.copy("COPY (SELECT id, name FROM people ORDER BY id) TO STDOUT (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "text"])
            assert list(copy.rows()) == [(1, "ada"), (2, "bob")]
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="COPY INTO"):
            with cur.copy("COPY people FROM STDIN") as copy:
                pass


def test_errors_have_sqlstates_and_leave_the_connection_usable(server):
    with server.connect() as conn:
        setup_people(conn)
        with pytest.raises(psycopg.errors.UndefinedTable, match="missing"):
            conn.execute("SELECT * FROM missing")
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute("SELEC 1")
        with pytest.raises(psycopg.errors.DuplicateTable):
            conn.execute("CREATE TABLE people (x INT)")
        # A failed write changes nothing.
        with pytest.raises(psycopg.Error):
            conn.execute("INSERT INTO people (id) VALUES (NULL)")
        assert conn.execute("SELECT count(*) FROM people").fetchone() == (2,)
        assert conn.execute("DESCRIBE HISTORY people").rowcount == 2


def test_cancel_stops_a_running_query(server):
    with server.connect() as conn:
        threading.Timer(1.0, conn.cancel_safe).start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT count(*) FROM generate_series(1, 100000000000)").fetchall()
        assert time.monotonic() - started < 30
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_scram_passwords_users_and_databases(server):
    with pytest.raises(psycopg.OperationalError, match="(?i)password"):
        server.connect(password="wrong")
    with pytest.raises(psycopg.OperationalError, match="(?i)password"):
        server.connect(user="nobody", password="whatever")
    # A user created offline (no server involved) can log in at once with its password.
    out = subprocess.run([TARN, "--warehouse", str(server.warehouse), "user", "create", "ada", "--password-stdin"],
                         input="s3cret!\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    with server.connect(user="ada", password="s3cret!") as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("main",)
    # The password is stored salted, never in the clear.
    for root, _, files in os.walk(server.warehouse):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert b"s3cret!" not in f.read()
    with pytest.raises(psycopg.OperationalError, match='database "nope" does not exist'):
        server.connect(dbname="nope")
    with server.connect() as conn:
        conn.execute("CREATE CATALOG lab")
        conn.execute("CREATE SCHEMA lab.raw")
        conn.execute("CREATE TABLE lab.raw.events (id INT)")
    with server.connect(dbname="lab") as conn:
        rows = conn.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        assert rows == [("raw", "events")]


def test_one_engine_behind_both_protocols(server):
    with server.connect() as conn:
        conn.execute("CREATE TABLE shared (id INT)")
        conn.execute("INSERT INTO shared VALUES (1), (2)")
        status, body = server.sql_http("INSERT INTO shared VALUES (3)")
        assert status == 200, body
        # The HTTP commit is visible to the open Postgres connection at once.
        assert conn.execute("SELECT count(*) FROM shared").fetchone() == (3,)


def psql(server, *commands):
    args = [PSQL, "-X", "-v", "ON_ERROR_STOP=1", server.dsn(password="")]
    for c in commands:
        args += ["-c", c]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PGPASSWORD": server.secret})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_psql_meta_commands(server):
    assert PSQL, "psql is installed by scripts/test.sh"
    with server.connect() as conn:
        setup_people(conn)
        conn.execute("CREATE SCHEMA sales")
        conn.execute("CREATE TABLE sales.orders (order_id INT, amount DECIMAL(10,2)) PARTITIONED BY (order_id)")
    out = psql(server, r"\l")
    assert "main" in out
    out = psql(server, r"\dn")
    assert "default" in out and "sales" in out
    out = psql(server, r"\dt")
    assert "people" in out and "orders" in out
    out = psql(server, r"\d people")
    assert 'Table "default.people"' in out
    for column, pg_type in [("id", "bigint"), ("name", "text"), ("score", "double precision"),
                            ("balance", "numeric"), ("seen", "timestamp with time zone"), ("tags", "text[]")]:
        assert any(line.split("|")[0].strip() == column and pg_type in line for line in out.splitlines()), out
    out = psql(server, r"\d+ sales.orders")
    assert 'Table "sales.orders"' in out and "order_id" in out and "amount" in out
    out = psql(server, "SELECT name FROM people ORDER BY id", "SHOW server_version")
    assert "ada" in out and "16.6 (Tarn" in out
    # Views: \dv lists them, \dt does not, information_schema says VIEW.
    with server.connect() as conn:
        conn.execute("CREATE VIEW sales.big_orders AS SELECT order_id FROM sales.orders WHERE amount > 100")
        kinds = conn.execute("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_schema = 'sales' ORDER BY table_name").fetchall()
        assert kinds == [("big_orders", "VIEW"), ("orders", "BASE TABLE")]
        assert conn.execute("SELECT viewname FROM pg_views WHERE schemaname = 'sales'").fetchall() == [("big_orders",)]
    out = psql(server, r"\dv sales.*")
    assert "big_orders" in out and "orders" not in out.replace("big_orders", "")
    out = psql(server, r"\dt sales.*")
    assert "orders" in out and "big_orders" not in out
