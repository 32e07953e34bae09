"""An ordinary user attacking `tarn serve` over real clients (HTTP, psycopg, ADBC Flight SQL):
every path around a grant, to the warehouse's own secret files, or to the server's life that
was once open, as a test. `bob` holds USE CATALOG main and USE SCHEMA + CREATE TABLE on
main.default; `secret` is an administrator's table whose rows carry a marker no answer to bob
may ever contain."""

import json
import random
import subprocess

import adbc_driver_flightsql.dbapi as flight_sql
import psycopg
import pytest

from tarn_server import TarnServer

MARKER = "TOPSECRET-7f3a"
BOB_PASSWORD = "bob-pa55"


def tarn(warehouse, *args, stdin=None):
    out = subprocess.run([TarnServer.binary(), "--warehouse", str(warehouse), *args], input=stdin,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("attack") / "wh"
    server = TarnServer(warehouse)
    admin = server.psycopg()
    admin.execute("CREATE TABLE secret (id INT, note STRING) TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    for i in range(3):  # versions 1..3 hold rows
        admin.execute(f"INSERT INTO secret VALUES ({i}, '{MARKER}-{i}')")
    admin.execute("CREATE SCHEMA fin")
    admin.execute(f"CREATE USER bob WITH PASSWORD '{BOB_PASSWORD}'")
    admin.execute("CREATE USER eve WITH PASSWORD 'eve-pa55'")
    for user in ("bob", "eve"):
        admin.execute(f"GRANT USE CATALOG ON CATALOG main TO {user}")
        admin.execute(f"GRANT USE SCHEMA ON SCHEMA main.default TO {user}")
        admin.execute(f"GRANT CREATE TABLE ON SCHEMA main.default TO {user}")
    token = tarn(warehouse, "token", "create", "--user", "bob")
    eve_token = tarn(warehouse, "token", "create", "--user", "eve")
    yield {"server": server, "admin": admin, "bob": token, "eve": eve_token, "warehouse": warehouse}
    admin.close()
    server.stop()


def http(env, sql, token=None, **fields):
    status, body = env["server"].http("/api/v1/statements", {"statement": sql, **fields}, token=token or env["bob"])
    return status, body.decode(errors="replace")


def pg(env, sql, user="bob", password=BOB_PASSWORD):
    """('ok', rows) or (SQLSTATE, message)."""
    try:
        with env["server"].psycopg(user=user, password=password) as conn:
            rows = conn.execute(sql).fetchall() if sql.lstrip().upper().startswith(("SELECT", "WITH")) else []
            return "ok", repr(rows)
    except psycopg.Error as e:
        return e.sqlstate, str(e)


def flight(env, sql):
    try:
        with env["server"].flight(token=env["bob"]) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return "ok", repr(cur.fetchall())
    except flight_sql.Error as e:
        return "error", str(e)


def assert_denied_everywhere(env, sql, pg_sql=None):
    status, body = http(env, sql)
    assert status == 403, (status, body)
    assert MARKER not in body
    code, message = pg(env, pg_sql or sql)
    assert code == "42501", (code, message)
    assert MARKER not in message
    code, message = flight(env, sql)
    assert code == "error" and "permission" in message.lower(), message
    assert MARKER not in message


def secret_dir(env):
    rows = env["admin"].execute("DESCRIBE DETAIL secret").fetchall()
    columns = [d.name for d in env["admin"].execute("DESCRIBE DETAIL secret").description]
    location = rows[0][columns.index("location")]
    return location.removeprefix("file://")


# ---- reading what one has no grant on ----

def test_a_cte_named_like_a_table_does_not_hide_time_travel(env):
    assert_denied_everywhere(env, "WITH secret AS (SELECT 1 AS x) SELECT * FROM secret VERSION AS OF 2")


def test_a_cte_in_a_subquery_does_not_hide_the_outer_table(env):
    sql = ("SELECT s.* FROM secret s CROSS JOIN (WITH secret AS (SELECT 1 AS x) SELECT x FROM secret) c "
           "WHERE EXISTS (SELECT 1 FROM information_schema.schemata)")
    assert_denied_everywhere(env, sql)


def test_information_schema_mounts_nothing_readable(env):
    # A name the resolver takes for a CTE but the planner for a table would reach the
    # warehouse mounted for the metadata query: it must find nothing there to read.
    status, body = http(env, "WITH a AS (SELECT * FROM secret) SELECT count(*) FROM information_schema.tables")
    assert MARKER not in body and status in (200, 403), (status, body)
    # Bob sees only what he may read in the metadata.
    status, body = http(env, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'default'")
    assert status == 200, body
    assert "secret" not in body
    status, body = http(env, "SELECT column_name FROM information_schema.columns WHERE table_name = 'secret'")
    assert status == 200 and "note" not in body, body


def test_quoted_table_functions_are_checked(env):
    assert_denied_everywhere(env, "SELECT * FROM `table_changes`('secret', 0)",
                             pg_sql="SELECT * FROM \"table_changes\"('secret', 0)")
    assert_denied_everywhere(env, "SELECT * FROM `READ_FILES`('/etc/passwd', format => 'csv')",
                             pg_sql="SELECT * FROM \"read_files\"('/etc/passwd', format => 'csv')")


def test_explain_cannot_smuggle_a_write(env):
    # Bob may read this table, not change it; EXPLAIN ANALYZE would run DataFusion's own INSERT.
    admin = env["admin"]
    admin.execute("CREATE TABLE readable AS SELECT 1 AS i")
    admin.execute("GRANT SELECT ON TABLE readable TO bob")
    # Reading the table binds it, and DataFusion's INSERT would write through that binding.
    status, body = http(env, "EXPLAIN ANALYZE INSERT INTO readable SELECT i + 1 FROM readable")
    assert status == 400 and "EXPLAIN" in body, body
    assert admin.execute("SELECT count(*) FROM readable").fetchone() == (1,)


def test_the_warehouse_files_are_never_readable(env):
    admin = env["admin"]
    admin.execute("GRANT SELECT ON ANY FILE TO bob")
    try:
        warehouse = env["warehouse"]
        for source in (f"{warehouse}/_tarn_catalog/passwords/admin.json",
                       f"{warehouse}/_tarn_catalog/passwords",
                       f"{warehouse}/_tarn_catalog/sharing/signing_key_v2.json",
                       f"{secret_dir(env)}/_delta_log/00000000000000000001.json",
                       f"{secret_dir(env)}/_delta_log"):
            status, body = http(env, f"SELECT * FROM read_files('{source}', format => 'json')")
            assert status == 403 and "Delta log or Tarn's catalog" in body, (source, status, body)
            # Not even an administrator reads them as files.
            status, body = http(env, f"SELECT * FROM read_files('{source}', format => 'json')", token=env["server"].secret)
            assert status == 403, (source, status, body)
        # A folder or glob above them lists data files only, never the catalog or a log.
        status, body = http(env, f"SELECT count(*) FROM read_files('{warehouse}/**/*.json', format => 'json')")
        assert status in (400, 403) and "salt" not in body, body
    finally:
        admin.execute("REVOKE SELECT ON ANY FILE FROM bob")


# ---- one request must not end the service ----

def test_deep_expressions_are_refused_and_the_server_lives(env):
    deep = "SELECT " + "+".join(["1"] * 2000)
    status, body = http(env, deep)
    assert status == 400 and "nests too deeply" in body, body
    code, message = pg(env, deep)
    assert code is not None and code != "ok" and "deeply" in message, (code, message)
    ors = "SELECT 1 WHERE " + " OR ".join(f"1 = {i}" for i in range(5000))
    status, body = http(env, ors)
    assert status == 400, body
    # Up to the bound, deep statements still plan and run (the threads' stacks hold them).
    status, body = http(env, "SELECT " + "+".join(["1"] * 900) + " AS n")
    assert status == 200 and "900" in body, body
    # Spark's division plans as functions: a long chain must still plan quickly, or be refused.
    status, body = http(env, "SELECT " + "/".join(["1"] * 900) + " AS q")
    assert status == 200 and "1.0" in body, body
    status, body = http(env, "SELECT " + "/".join(["1.0"] * 900) + " AS q")
    assert status == 400 and "decimal divisions" in body, body
    assert env["server"].proc.poll() is None
    assert http(env, "SELECT 1 AS alive")[0] == 200


def test_a_server_has_a_memory_limit_by_default(env):
    metrics = env["server"].metrics()
    assert "tarn_memory_limit_bytes" in metrics, "tarn serve runs with a default memory limit"
    with open("/proc/meminfo") as f:
        total = int(next(line for line in f if line.startswith("MemTotal:")).split()[1]) * 1024
    assert 0 < metrics["tarn_memory_limit_bytes"] <= total


def test_an_aggregate_past_the_limit_fails_alone(tmp_path):
    server = TarnServer(tmp_path / "wh", "--memory-limit", "64MiB", pg=False, flight=False)
    try:
        status, body = server.sql_http("SELECT array_agg(id) FROM range(30000000)")
        assert status == 507 or status >= 400, body
        assert "out of memory" in json.dumps(body), body
        assert server.sql_http("SELECT 1 AS alive")[0] == 200
    finally:
        server.stop()


# ---- statements smuggled through request fields ----

def test_request_fields_are_names_not_sql(env):
    admin = env["admin"]
    admin.execute("CREATE TABLE IF NOT EXISTS victim (i INT)")
    status, body = http(env, "SELECT 1", token=env["server"].secret, catalog="main`; DROP TABLE victim; --")
    assert status == 404 or status == 400, body
    status, body = http(env, "SELECT 1", token=env["server"].secret, schema="default`; DROP TABLE victim; --")
    assert status == 404 or status == 400, body
    server = env["server"]
    status, body = server.http("/api/v1/catalogs/main/schemas/default/tables/victim%60%3B%20DROP%20TABLE%20victim%3B%20--")
    assert status == 404, body
    assert admin.execute("SELECT count(*) FROM victim").fetchone() == (0,)


# ---- revocation reaches live sessions ----

def test_a_dropped_admin_loses_its_open_connection(env):
    admin = env["admin"]
    admin.execute("CREATE USER boss WITH PASSWORD 'boss-pa55' ADMIN")
    with env["server"].psycopg(user="boss", password="boss-pa55") as conn:
        conn.execute("SELECT 1")
        admin.execute("DROP USER boss")
        import time
        time.sleep(1.2)  # the session trusts its principal for at most a second
        with pytest.raises(psycopg.Error) as err:
            conn.execute("CREATE USER mallory WITH PASSWORD 'x' ADMIN")
        assert err.value.sqlstate == "42501", err.value
    names = [r[0] for r in admin.execute("SHOW USERS").fetchall()]
    assert "mallory" not in names


def test_a_flight_session_ends_with_its_token(env):
    import pyarrow.flight as pflight
    from test_flight import statement_query  # the descriptor Flight SQL clients send

    warehouse = env["warehouse"]
    token = tarn(warehouse, "token", "create", "--user", "bob")
    client = pflight.FlightClient(env["server"].addr["flight"])
    session = _handshake(client, token)
    options = pflight.FlightCallOptions(headers=[(b"authorization", f"Bearer {session}".encode())])
    query = pflight.FlightDescriptor.for_command(statement_query("SELECT 1"))
    client.get_flight_info(query, options)
    token_id = token.removeprefix("tarn_").split("_")[0]
    tarn(warehouse, "token", "revoke", token_id)
    with pytest.raises(pflight.FlightUnauthenticatedError):
        client.get_flight_info(query, options)


def _handshake(client, token):
    """The session token `Handshake` answers a bearer token with."""
    import pyarrow.flight as pflight

    class Payload(pflight.ClientAuthHandler):
        def __init__(self):
            super().__init__()
            self.token = b""

        def authenticate(self, outgoing, incoming):
            outgoing.write(b"")
            self.token = incoming.read()

        def get_token(self):
            return self.token

    handler = Payload()
    options = pflight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    client.authenticate(handler, options)
    session = handler.token.decode()
    assert session.startswith("flight_"), session
    return session


# ---- smaller holes ----

def test_renaming_into_another_schema_needs_create_there(env):
    status, body = http(env, "CREATE TABLE mine (i INT)")
    assert status == 200, body
    status, body = http(env, "ALTER TABLE mine RENAME TO main.fin.planted")
    assert status == 403, body
    assert env["admin"].execute("SHOW TABLES IN main.fin").fetchall() == []


def test_a_location_with_foreign_files_is_refused(env, tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work")
    status, body = http(env, f"CREATE TABLE ext (i INT) LOCATION '{folder}'", token=env["server"].secret)
    assert status == 400 and "already holds files" in body, body
    assert (folder / "thesis.txt").read_text() == "years of work"


def test_async_statements_belong_to_their_user(env):
    status, body = http(env, "SELECT 42 AS answer", wait_timeout_ms=5000)
    assert status == 200, body
    statement_id = json.loads(body)["statement_id"]
    server = env["server"]
    status, body = server.http(f"/api/v1/statements/{statement_id}", token=env["eve"])
    assert status == 404, body
    status, body = server.http(f"/api/v1/statements/{statement_id}", token=env["bob"])
    assert status == 200 and b"42" in body, body


def test_changes_of_an_unreadable_table_tell_nothing(env):
    status, body = env["server"].http("/api/v1/tables/main.default.secret/changes?from=99", token=env["bob"])
    assert status == 403, body
    assert b"latest" not in body


def test_an_empty_password_creates_no_user(env):
    admin = env["admin"]
    with pytest.raises(psycopg.Error):
        admin.execute("CREATE USER nopass WITH PASSWORD ''")
    assert "nopass" not in [r[0] for r in admin.execute("SHOW USERS").fetchall()]


def test_a_huge_name_is_a_clean_not_found(env):
    status, body = http(env, f"SELECT * FROM {'x' * 5000}")
    assert status in (400, 404), body
    assert "_tarn_catalog" not in body and "File name too long" not in body, body


def test_quoted_passwords_never_reach_the_audit(env):
    admin = env["admin"]
    status, body = http(env, "CREATE USER quoted2 WITH PASSWORD `bt-secret-2`", token=env["server"].secret)
    import time
    time.sleep(1.5)  # the audit writer flushes in batches
    rows = admin.execute("SELECT statement FROM system.access.audit").fetchall()
    text = repr(rows)
    assert "bt-secret-2" not in text, text


def test_a_bad_database_name_lists_nothing(env):
    with pytest.raises(psycopg.Error) as err:
        env["server"].psycopg(user="bob", password=BOB_PASSWORD, dbname="nosuchdb")
    assert "main" not in str(err.value).replace("does not exist", ""), err.value


# ---- property: no statement shape reads a row of `secret` without SELECT ----

def _random_statement(rng):
    table = rng.choice(["secret", "main.default.secret", "default.secret", "`secret`", "main.`default`.`secret`"])
    version = rng.choice(["", "", " VERSION AS OF 1", " VERSION AS OF 3", " TIMESTAMP AS OF now()"])
    relation = table + version
    cte_name = rng.choice(["secret", "s", "`secret`"])
    cte = f"WITH {cte_name} AS (SELECT 1 AS id, 'x' AS note) "
    function = rng.choice([
        "table_changes('secret', 0)", "`table_changes`('secret', 0)", "TABLE_CHANGES('main.default.secret', 1)",
        "`Table_Changes`('default.secret', 0, 3)",
    ])
    meta = rng.choice(["", " WHERE EXISTS (SELECT 1 FROM information_schema.tables)",
                       " WHERE EXISTS (SELECT 1 FROM information_schema.columns)"])
    shapes = [
        f"SELECT * FROM {relation}",
        f"{cte}SELECT * FROM {relation}",
        f"{cte}SELECT * FROM {cte_name}, (SELECT * FROM {relation}) t",
        f"SELECT * FROM (WITH {cte_name} AS (SELECT 2 AS id) SELECT * FROM {cte_name}) a CROSS JOIN {relation}{meta}",
        f"SELECT * FROM {relation} s CROSS JOIN (WITH secret AS (SELECT 1 AS x) SELECT x FROM secret) c{meta}",
        f"SELECT * FROM {function}",
        f"{cte}SELECT * FROM {function}",
        f"SELECT (SELECT max(note) FROM {relation}) AS n{meta}",
        f"{cte}SELECT * FROM {cte_name} WHERE id IN (SELECT id FROM {relation})",
        f"SELECT note FROM {relation} UNION ALL SELECT 'y'",
        f"WITH a AS (SELECT * FROM {relation}), secret AS (SELECT * FROM a) SELECT * FROM secret{meta}",
        f"WITH RECURSIVE secret AS (SELECT 1 AS id) SELECT * FROM secret, {relation}",
    ]
    return rng.choice(shapes)


def test_no_statement_reads_secret_rows(env):
    rng = random.Random(20261204)
    seen = set()
    for _ in range(300):
        sql = _random_statement(rng)
        if sql in seen:
            continue
        seen.add(sql)
        status, body = http(env, sql)
        assert MARKER not in body, (sql, status, body)
        assert status in (200, 400, 403, 404), (sql, status, body)
    # The same shapes over pg, double-quoted.
    for sql in list(seen)[:40]:
        code, message = pg(env, sql.replace("`", '"'))
        assert MARKER not in message, (sql, code, message)
    assert env["server"].proc.poll() is None


def test_silent_connections_are_closed(env):
    """A client that connects and sends nothing does not hold a place for long (HTTP, Flight, pg)."""
    import socket
    import time
    server = env["server"]
    for address in (server.addr["http"].removeprefix("http://"), server.addr["flight"].removeprefix("grpc://"),
                    f"127.0.0.1:{server.pg_port}"):
        host, port = address.rsplit(":", 1)
        started = time.time()
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            # A server may greet first (HTTP/2 sends its settings); then it hangs up.
            while sock.recv(4096):
                pass
        assert time.time() - started < 25, address
    assert server.sql_http("SELECT 1")[0] == 200


def test_copy_cursors_and_browsing_are_audited(env):
    import time
    server = env["server"]
    with server.psycopg(user="bob", password=BOB_PASSWORD) as conn:
        with pytest.raises(psycopg.Error):
            with conn.cursor().copy("COPY secret TO STDOUT") as copy:
                for _ in copy:
                    pass
    with server.psycopg(user="bob", password=BOB_PASSWORD) as conn:
        conn.execute("DECLARE audited_cursor CURSOR FOR SELECT 42 AS x")
        conn.execute("FETCH 1 FROM audited_cursor")
    assert server.http("/api/v1/catalogs/main/schemas", token=env["bob"])[0] == 200
    wanted = {
        ("COPY secret TO STDOUT", "denied"),
        ("DECLARE audited_cursor CURSOR FOR SELECT 42 AS x", "ok"),
        ("FETCH 1 FROM audited_cursor", "ok"),
        ("GET /api/v1/catalogs/main/schemas", "ok"),
    }
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = env["admin"].execute(
            "SELECT statement, outcome FROM system.access.audit WHERE principal = 'bob'").fetchall()
        if wanted <= set(rows):
            return
        time.sleep(0.5)
    raise AssertionError(f"missing from the audit: {wanted - set(rows)}")


def _scram_salt(port, user):
    """The salt the server answers a SCRAM client-first message with, for `user`."""
    import struct
    from pg_wire import Wire
    wire = Wire(port)
    params = f"user\0{user}\0database\0main\0\0".encode()
    body = struct.pack("!I", 196608) + params
    wire.raw(struct.pack("!I", len(body) + 4) + body)
    kind, payload = wire.message()
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 10, (kind, payload)  # AuthenticationSASL
    first = b"n,,n=,r=fixednonce"
    wire.send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first)
    kind, payload = wire.message()
    assert kind == b"R" and struct.unpack("!I", payload[:4])[0] == 11, (kind, payload)  # SASLContinue
    fields = dict(part.split("=", 1) for part in payload[4:].decode().split(","))
    wire.sock.close()
    return fields["s"]


def test_unknown_users_look_like_real_ones_before_login(env):
    port = env["server"].pg_port
    assert _scram_salt(port, "ghost") == _scram_salt(port, "ghost"), "an unknown user's salt is stable"
    assert _scram_salt(port, "bob") == _scram_salt(port, "bob")
    assert _scram_salt(port, "ghost") != _scram_salt(port, "phantom")


def test_password_guessing_is_slowed_down(env):
    import time
    server = env["server"]
    for _ in range(5):
        with pytest.raises(psycopg.OperationalError):
            server.psycopg(user="eve", password="wrong")
    started = time.time()
    with pytest.raises(psycopg.OperationalError):
        server.psycopg(user="eve", password="wrong")
    assert time.time() - started >= 1.0, "the sixth failure in a minute waits"
    # Other users are not held up, and the right password still works.
    started = time.time()
    server.psycopg(user="bob", password=BOB_PASSWORD).close()
    assert time.time() - started < 1.0
    server.psycopg(user="eve", password="eve-pa55").close()


def test_tarn_listings_return_rows_over_the_extended_protocol(env):
    """psycopg (like pgjdbc) sends every statement through the extended protocol."""
    admin = env["admin"]
    users = {r[0] for r in admin.execute("SHOW USERS", prepare=True).fetchall()}
    assert {"admin", "bob", "eve"} <= users, users
    grants = admin.execute("SHOW GRANTS TO bob", prepare=True).fetchall()
    assert any("USE CATALOG" in " ".join(map(str, row)).upper() for row in grants), grants
    assert admin.execute("SHOW SHARES", prepare=True).fetchall() == []
