"""`tarn serve`'s Arrow Flight SQL, driven by the ADBC Flight SQL driver (DB-API, pandas,
pyarrow) and by pyarrow.flight directly: queries, DML, parameters, catalog metadata, auth, and
a 10-million-row result streamed with bounded server memory."""

import subprocess

import adbc_driver_flightsql as adbc_flight
import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from tarn_server import TARN, TarnServer



class Server(TarnServer):
    """`tarn serve` with only the Flight SQL listener."""

    def __init__(self, warehouse):
        super().__init__(warehouse, pg=False, http=False)
        self.token = self.secret
        self.uri = self.addr["flight"]

    def connect(self, token=None, **db_kwargs):
        if token is not False and not db_kwargs:
            db_kwargs = {adbc_flight.DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token or self.token}"}
        return flight_sql.connect(self.uri, db_kwargs=db_kwargs, autocommit=True)


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path / "wh")
    assert srv.token
    yield srv
    srv.stop()


def test_queries_and_writes_through_adbc(server):
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE trips (id BIGINT NOT NULL, city STRING, fare DECIMAL(8,2), at TIMESTAMP) "
                    "PARTITIONED BY (city)")
        cur.execute("INSERT INTO trips VALUES (1, 'oslo', 12.50, TIMESTAMP '2024-05-01 08:00:00'), "
                    "(2, 'rome', 7.00, NULL), (3, 'oslo', 3.25, NULL)")
        assert cur.fetchall() == [(3, 3)]  # num_affected_rows, num_inserted_rows
        cur.execute("SELECT city, sum(fare) AS total, count(*) AS n FROM trips GROUP BY city ORDER BY city")
        df = cur.fetch_df()
        assert df["city"].tolist() == ["oslo", "rome"]
        assert [str(v) for v in df["total"]] == ["15.75", "7.00"]
        assert df["n"].tolist() == [2, 1]
        cur.execute("SELECT * FROM trips ORDER BY id")
        table = cur.fetch_arrow_table()
        assert table.num_rows == 3
        assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("fare").type == pa.decimal128(8, 2)
        cur.execute("UPDATE trips SET fare = fare + 1 WHERE city = 'rome'")
        cur.execute("SELECT fare FROM trips WHERE id = 2")
        assert str(cur.fetchone()[0]) == "8.00"
        cur.execute("SELECT count(*) FROM trips VERSION AS OF 1")
        assert cur.fetchone() == (3,)
        cur.execute("DESCRIBE HISTORY trips")
        assert [r[2] for r in cur.fetchall()] == ["UPDATE", "WRITE", "CREATE TABLE"]


def test_parameters_and_atomic_executemany(server):
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kv (k INT NOT NULL, v STRING)")
        cur.executemany("INSERT INTO kv VALUES (?, ?)", [(1, "a"), (2, "it's"), (3, None)])
        cur.execute("SELECT k, v FROM kv WHERE k >= ? ORDER BY k", (2,))
        assert cur.fetchall() == [(2, "it's"), (3, None)]
        cur.execute("SELECT count(*) FROM kv WHERE v = ?", ("x' OR '1'='1",))
        assert cur.fetchone() == (0,)
        # One bad row fails the whole batch: nothing of it is written.
        with pytest.raises(flight_sql.Error):
            cur.executemany("INSERT INTO kv VALUES (?, ?)", [(4, "d"), (None, "null key")])
        cur.execute("SELECT count(*) FROM kv")
        assert cur.fetchone() == (3,)
        cur.execute("DESCRIBE HISTORY kv")
        assert len(cur.fetchall()) == 2  # CREATE and the one multi-row INSERT


def test_catalog_metadata(server):
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA sales")
        cur.execute("CREATE TABLE sales.orders (id INT, amount DOUBLE)")
        cur.execute("CREATE TABLE notes (body STRING)")
        cur.execute("CREATE VIEW sales.big AS SELECT id FROM sales.orders WHERE amount > 10")
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        main = next(c for c in objects if c["catalog_name"] == "main")
        tables = {(s["db_schema_name"], t["table_name"], t["table_type"]) for s in main["catalog_db_schemas"]
                  for t in (s["db_schema_tables"] or [])}
        assert tables == {("sales", "orders", "TABLE"), ("default", "notes", "TABLE"), ("sales", "big", "VIEW")}
        assert conn.adbc_get_table_schema("big", db_schema_filter="sales").names == ["id"]
        schema = conn.adbc_get_table_schema("orders", db_schema_filter="sales")
        assert schema.names == ["id", "amount"]
        assert schema.field("amount").type == pa.float64()
        assert conn.adbc_get_table_types() == ["TABLE", "VIEW"]
        info = conn.adbc_get_info()
        assert info["vendor_name"] == "Tarn"


def test_authentication(server):
    with pytest.raises(flight_sql.Error, match="(?i)unauthenticated|token"):
        with server.connect(token="tarn_0000_bogus") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    out = subprocess.run([TARN, "--warehouse", str(server.warehouse), "user", "create", "ada", "--password-stdin"],
                         input="pa55word\n", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    kwargs = {"username": "ada", "password": "pa55word"}
    with server.connect(**kwargs) as conn, conn.cursor() as cur:
        cur.execute("SELECT 41 + 1 AS answer")
        assert cur.fetchone() == (42,)
    with pytest.raises(flight_sql.Error, match="(?i)password"):
        with server.connect(username="ada", password="wrong") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    # ADBC sends the Basic credentials' base64 unpadded: every length of 'user:password' works
    # (10, 11 and 12 bytes here: one of each remainder mod 3).
    for user, password in [("bea", "s3cret"), ("dan", "s3cret7"), ("eve", "s3cret78")]:
        out = subprocess.run([TARN, "--warehouse", str(server.warehouse), "user", "create", user, "--password-stdin"],
                             input=password + "\n", capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        with server.connect(username=user, password=password) as conn, conn.cursor() as cur:
            cur.execute("SELECT 42 AS answer")
            assert cur.fetchone() == (42,)


def _pb_bytes(field, payload):
    """A length-delimited protobuf field."""
    out, n = bytearray([(field << 3) | 2]), len(payload)
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + payload


def statement_query(sql):
    """Any{CommandStatementQuery{query}}, the descriptor Flight SQL clients send."""
    command = _pb_bytes(1, sql.encode())
    type_url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return _pb_bytes(1, type_url) + _pb_bytes(2, command)


def test_large_result_streams_with_bounded_memory(server):
    client = flight.FlightClient(server.uri)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {server.token}".encode())])
    sql = "SELECT x, repeat('x', 100) AS pad FROM generate_series(1, 10000000) AS t(x)"
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query(sql)), options)
    assert info.schema.names == ["x", "pad"]
    reader = client.do_get(info.endpoints[0].ticket, options)
    rows, total, bytes_seen = 0, 0, 0
    for chunk in reader:
        batch = chunk.data
        rows += batch.num_rows
        total += pa.compute.sum(batch.column(0)).as_py()
        bytes_seen += batch.nbytes
    assert rows == 10_000_000
    assert total == 10_000_000 * 10_000_001 // 2
    peak = server.peak_rss_mib()
    print(f"streamed {bytes_seen / 2**20:.0f} MiB; server peak RSS {peak:.0f} MiB")
    # The result is over 1 GiB; a server that collected it would peak far above this.
    assert bytes_seen > 1024 * 2**20
    assert peak < 600, f"server peak RSS {peak:.0f} MiB while streaming"


def test_folded_constants_keep_the_announced_schema(server):
    # GetFlightInfo describes `arr[0]` or `5 / 2` as nullable; execution folds them to
    # non-null constants. The stream must still carry the announced schema.
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT array(1, 2)[0] AS a, 5 / 2 AS d, 41 + 1 AS answer, typeof(1.5) AS t")
        assert cur.fetchall() == [(1, 2.5, 42, "decimal(2,1)")]
