"""Privileges, the same on every protocol: for each protocol (Postgres wire, HTTP, Flight SQL)
× principal (admin, reader, writer, stranger) × operation, the expected allow or deny. A denial
is the protocol's permission error (SQLSTATE 42501, HTTP 403, Flight PERMISSION_DENIED) and
leaves no trace in the data."""

import json
import os
import subprocess
import urllib.error
import urllib.request

import adbc_driver_flightsql as adbc_flight
import adbc_driver_flightsql.dbapi as flight_sql
import psycopg
import pytest

TARN = os.environ.get("TARN_BIN", "tarn")
USERS = ("reader", "writer", "stranger")

# operation → SQL, and who may run it.
OPERATIONS = {
    "select": ("SELECT count(*) FROM sales.orders", {"admin", "reader", "writer"}),
    "time_travel": ("SELECT count(*) FROM sales.orders VERSION AS OF 0", {"admin", "reader", "writer"}),
    "describe_query": ("DESCRIBE QUERY SELECT id FROM sales.orders", {"admin", "reader", "writer"}),
    "describe_schema": ("DESCRIBE SCHEMA sales", {"admin", "reader", "writer"}),
    "insert": ("INSERT INTO sales.orders VALUES (100, 1.0)", {"admin", "writer"}),
    "optimize": ("OPTIMIZE sales.orders", {"admin", "writer"}),
    "create_table": ("CREATE TABLE sales.t_{proto}_{user} (i INT)", {"admin"}),
    "drop_table": ("DROP TABLE IF EXISTS sales.keep", {"admin"}),
    "comment_on": ("COMMENT ON TABLE sales.orders IS 'by {user} over {proto}'", {"admin"}),
    "create_like": ("CREATE TABLE sales.l_{proto}_{user} LIKE sales.orders", {"admin"}),
    "clone": ("CREATE TABLE sales.c_{proto}_{user} SHALLOW CLONE sales.orders", {"admin"}),
    "path_read": ("SELECT count(*) FROM delta.`{location}`", {"admin"}),
    "grant": ("GRANT SELECT ON TABLE sales.orders TO stranger", {"admin"}),
    "create_user": ("CREATE USER u_{proto}_{user} WITH PASSWORD 'x'", {"admin"}),
}


class Server:
    def __init__(self, warehouse):
        self.warehouse = warehouse
        self.proc = subprocess.Popen(
            [TARN, "--warehouse", str(warehouse), "serve", "--pg-addr", "127.0.0.1:0",
             "--http-addr", "127.0.0.1:0", "--flight-addr", "127.0.0.1:0"],
            stderr=subprocess.PIPE, text=True,
        )
        self.admin_secret = None
        self.ports = {}
        while len(self.ports) < 3:
            line = self.proc.stderr.readline()
            assert line, "the server exited before listening"
            if "shown only now): " in line:
                self.admin_secret = line.strip().rsplit(" ", 1)[1]
            for proto, marker in (("pg", "Postgres wire protocol listening on "), ("http", "HTTP API listening on "),
                                  ("flight", "Flight SQL listening on ")):
                if marker in line:
                    self.ports[proto] = line.strip().split(marker)[1]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def run_pg(server, user, secret, sql):
    port = server.ports["pg"].rsplit(":", 1)[1]
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} dbname=main user={user} password={secret}",
                             autocommit=True) as conn:
            conn.execute(sql)
        return "allow"
    except psycopg.errors.InsufficientPrivilege:
        return "deny"


def run_http(server, user, token, sql):
    req = urllib.request.Request(server.ports["http"] + "/api/v1/statements", method="POST",
                                 data=json.dumps({"statement": sql}).encode())
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60):
            return "allow"
    except urllib.error.HTTPError as err:
        assert err.code == 403, err.read()
        return "deny"


def run_flight(server, user, token, sql):
    kwargs = {adbc_flight.DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"}
    try:
        with flight_sql.connect(server.ports["flight"], db_kwargs=kwargs, autocommit=True) as conn, \
                conn.cursor() as cur:
            cur.execute(sql)
            if cur.description:
                cur.fetchall()
        return "allow"
    except flight_sql.Error as err:
        assert "PERMISSION_DENIED" in str(err) or "permission denied" in str(err), err
        return "deny"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("access") / "wh")
    yield srv
    srv.stop()


def admin_sql(server, sql):
    return run_pg(server, "admin", server.admin_secret, sql)


def test_matrix_protocols_principals_operations(server):
    setup = [
        "CREATE SCHEMA sales",
        "CREATE TABLE sales.orders (id INT, amount DOUBLE)",
        "INSERT INTO sales.orders VALUES (1, 10.0), (2, 20.0)",
        "CREATE TABLE sales.keep (id INT)",
    ] + [f"CREATE USER {u} WITH PASSWORD 'pw-{u}'" for u in USERS] + [
        "GRANT USE CATALOG ON CATALOG main TO reader",
        "GRANT USE SCHEMA, SELECT ON SCHEMA sales TO reader",
        "GRANT USE CATALOG ON CATALOG main TO writer",
        "GRANT USE SCHEMA ON SCHEMA sales TO writer",
        "GRANT SELECT, MODIFY ON TABLE sales.orders TO writer",
    ]
    for sql in setup:
        assert admin_sql(server, sql) == "allow", sql
    tokens = {"admin": server.admin_secret}
    for u in USERS:
        out = subprocess.run([TARN, "--warehouse", str(server.warehouse), "token", "create", "--user", u],
                             capture_output=True, text=True, timeout=60, check=True)
        tokens[u] = out.stdout.strip()
    location = next((server.warehouse / "main" / "sales").glob("orders-*"))

    runners = {"pg": run_pg, "http": run_http, "flight": run_flight}
    mismatches, inserts_allowed = [], 0
    for proto, run in runners.items():
        for user in ("admin",) + USERS:
            secret = tokens[user] if proto != "pg" or user == "admin" else f"pw-{user}"
            for op, (template, allowed) in OPERATIONS.items():
                if op == "drop_table" and user == "admin":
                    continue  # keep the table for the other protocols' denials
                sql = template.format(proto=proto, user=user, location=location)
                expected = "allow" if user in allowed else "deny"
                actual = run(server, user, secret, sql)
                if actual != expected:
                    mismatches.append(f"{proto} {user} {op}: expected {expected}, got {actual}")
                if op == "insert" and actual == "allow":
                    inserts_allowed += 1
    assert not mismatches, "\n".join(mismatches)

    # Denied writes left nothing behind: only the allowed inserts are in the table.
    port = server.ports["pg"].rsplit(":", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={port} dbname=main user=admin password={server.admin_secret}",
                         autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM sales.orders").fetchone() == (2 + inserts_allowed,)
        tables = {r[1] for r in conn.execute("SHOW TABLES IN sales").fetchall()}
        assert not any(t.startswith(("t_", "c_")) and not t.endswith("admin") for t in tables), tables
        assert "keep" in tables


def test_ownership_and_revoke(server):
    # The writer gets CREATE TABLE, creates a table, and owns it: it may drop it and grant on it.
    assert admin_sql(server, "GRANT CREATE TABLE ON SCHEMA sales TO writer") == "allow"
    assert run_pg(server, "writer", "pw-writer", "CREATE TABLE sales.mine (i INT)") == "allow"
    assert run_pg(server, "writer", "pw-writer", "GRANT SELECT ON TABLE sales.mine TO reader") == "allow"
    assert run_pg(server, "reader", "pw-reader", "SELECT * FROM sales.mine") == "allow"
    # Revoking takes effect at once.
    assert run_pg(server, "writer", "pw-writer", "REVOKE SELECT ON TABLE sales.mine FROM reader") == "allow"
    assert admin_sql(server, "REVOKE SELECT ON SCHEMA sales FROM reader") == "allow"
    assert run_pg(server, "reader", "pw-reader", "SELECT * FROM sales.mine") == "deny"
    assert run_pg(server, "writer", "pw-writer", "DROP TABLE sales.mine") == "allow"
    # A table re-created under the same name does not inherit old grants.
    assert admin_sql(server, "CREATE TABLE sales.mine (i INT)") == "allow"
    assert run_pg(server, "writer", "pw-writer", "DROP TABLE sales.mine") == "deny"


def test_audit_log_records_every_protocol(server):
    import time
    # Events are written in batches within about a second.
    deadline = time.time() + 20
    port = server.ports["pg"].rsplit(":", 1)[1]
    dsn = f"host=127.0.0.1 port={port} dbname=main user=admin password={server.admin_secret}"
    while True:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT protocol, principal, outcome, count(*) FROM system.access.audit "
                "GROUP BY protocol, principal, outcome").fetchall()
        seen = {(p, u, o) for p, u, o, _ in rows}
        wanted = {(p, u, o) for p in ("postgres", "http", "flight-sql") for u, o in
                  (("admin", "ok"), ("reader", "ok"), ("reader", "denied"), ("stranger", "denied"))}
        if wanted <= seen or time.time() > deadline:
            break
        time.sleep(0.5)
    assert wanted <= seen, sorted(seen)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT statement, client_address, error FROM system.access.audit "
                           "WHERE principal = 'stranger' AND protocol = 'postgres' AND outcome = 'denied' "
                           "ORDER BY event_time LIMIT 1").fetchone()
    assert row[1].startswith("127.0.0.1:") and "permission denied" in row[2]
    # Each event names the tables its statement touched, fully qualified, on every protocol.
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT protocol, tables FROM system.access.audit "
                            "WHERE statement = 'SELECT count(*) FROM sales.orders VERSION AS OF 0'").fetchall()
        assert {p for p, _ in rows} == {"postgres", "http", "flight-sql"}
        assert all(t == ["main.sales.orders"] for _, t in rows), rows
        clones = conn.execute("SELECT tables FROM system.access.audit "
                              "WHERE statement LIKE 'CREATE TABLE sales.c_%' AND outcome = 'ok'").fetchall()
        assert clones and all(sorted(t) == sorted([t[0], "main.sales.orders"]) and t[0].startswith("main.sales.c_")
                              for (t,) in clones), clones
        # Passwords in CREATE USER are redacted before they reach the log.
        users = conn.execute("SELECT statement FROM system.access.audit WHERE statement LIKE 'CREATE USER%'").fetchall()
        assert users and all("PASSWORD '***'" in u for (u,) in users), users
        assert conn.execute("SELECT count(*) FROM system.access.audit WHERE statement LIKE '%pw-%'").fetchone() == (0,)
        paths = conn.execute("SELECT tables FROM system.access.audit WHERE statement LIKE '%delta.`%'").fetchall()
        assert paths and all(len(t) == 1 and t[0].startswith("delta.`file://") for (t,) in paths), paths
    # Only admins (or whoever is granted the system catalog) read it.
    assert run_pg(server, "reader", "pw-reader", "SELECT count(*) FROM system.access.audit") == "deny"


def test_views_run_with_their_owners_rights(server):
    """Unity Catalog's views: SELECT on a view is what a reader needs, the view reads its
    tables with its owner's rights (checked at each read), and a reader's temporary views
    never leak into it."""
    setup = [
        "CREATE SCHEMA hr",
        "CREATE TABLE hr.salaries (name STRING, pay INT)",
        "INSERT INTO hr.salaries VALUES ('ada', 10), ('bob', 20)",
        "CREATE USER vowner WITH PASSWORD 'pw-vowner'",
        "CREATE USER vreader WITH PASSWORD 'pw-vreader'",
        "GRANT USE CATALOG ON CATALOG main TO vowner",
        "GRANT USE CATALOG ON CATALOG main TO vreader",
        "GRANT USE SCHEMA ON SCHEMA hr TO vowner",
        "GRANT USE SCHEMA ON SCHEMA hr TO vreader",
        "GRANT CREATE TABLE ON SCHEMA hr TO vowner",
        "GRANT SELECT ON TABLE hr.salaries TO vowner",
    ]
    for sql in setup:
        assert admin_sql(server, sql) == "allow", sql
    port = server.ports["pg"].rsplit(":", 1)[1]

    def connect(user):
        return psycopg.connect(f"host=127.0.0.1 port={port} dbname=main user={user} password=pw-{user}", autocommit=True)

    with connect("vowner") as conn:
        conn.execute("USE hr")
        conn.execute("CREATE VIEW totals AS SELECT count(*) AS n, sum(pay) AS total FROM salaries")
    # No SELECT on the view yet; never any on the table.
    assert run_pg(server, "vreader", "pw-vreader", "SELECT * FROM hr.totals") == "deny"
    assert run_pg(server, "vowner", "pw-vowner", "GRANT SELECT ON VIEW hr.totals TO vreader") == "allow"
    with connect("vreader") as conn:
        assert conn.execute("SELECT n, total FROM hr.totals").fetchone() == (2, 30)
        # A temporary view named like the view's table does not change what the view reads.
        conn.execute("CREATE TEMPORARY VIEW salaries AS SELECT 'eve' AS name, 1000 AS pay")
        conn.execute("USE hr")
        assert conn.execute("SELECT n, total FROM totals").fetchone() == (2, 30)
    assert run_pg(server, "vreader", "pw-vreader", "SELECT * FROM hr.salaries") == "deny"
    # The reader may not make a view of what it cannot read, nor change or drop the owner's.
    for sql in ("CREATE VIEW hr.steal AS SELECT * FROM hr.salaries",
                "CREATE OR REPLACE VIEW hr.totals AS SELECT * FROM hr.salaries",
                "ALTER VIEW hr.totals AS SELECT * FROM hr.salaries",
                "ALTER VIEW hr.totals AS SELECT 1 AS one",
                "TABLE hr.salaries",
                "SELECT 'x' AS name, 1 AS pay EXCEPT ALL TABLE hr.salaries",
                "SELECT * FROM hr.totals LEFT JOIN hr.salaries",
                "DROP VIEW hr.totals"):
        assert run_pg(server, "vreader", "pw-vreader", sql) == "deny", sql
    # Even an owner needs SELECT on what its view reads when creating it.
    assert admin_sql(server, "CREATE TABLE hr.secret (s STRING)") == "allow"
    assert run_pg(server, "vowner", "pw-vowner", "CREATE VIEW hr.peek AS SELECT * FROM hr.secret") == "deny"
    # Its owner may give it a new query, over what the owner can read only.
    assert run_pg(server, "vowner", "pw-vowner", "ALTER VIEW hr.totals AS SELECT count(*) AS n, sum(pay) AS total FROM hr.salaries") == "allow"
    assert run_pg(server, "vowner", "pw-vowner", "ALTER VIEW hr.totals AS SELECT count(*) AS n, 0 AS total FROM hr.secret") == "deny"
    # The same over HTTP and Flight SQL.
    tokens = {}
    for u in ("vreader",):
        out = subprocess.run([TARN, "--warehouse", str(server.warehouse), "token", "create", "--user", u],
                             capture_output=True, text=True, timeout=60, check=True)
        tokens[u] = out.stdout.strip()
    assert run_http(server, "vreader", tokens["vreader"], "SELECT * FROM hr.totals") == "allow"
    assert run_flight(server, "vreader", tokens["vreader"], "SELECT * FROM hr.totals") == "allow"
    assert run_http(server, "vreader", tokens["vreader"], "SELECT * FROM hr.salaries") == "deny"
    # The owner loses access to the table: the view stops working for everyone it was shared with.
    assert admin_sql(server, "REVOKE SELECT ON TABLE hr.salaries FROM vowner") == "allow"
    assert run_pg(server, "vreader", "pw-vreader", "SELECT * FROM hr.totals") == "deny"
    assert run_flight(server, "vreader", tokens["vreader"], "SELECT * FROM hr.totals") == "deny"
    # The owner may drop it; the grant goes with it.
    assert run_pg(server, "vowner", "pw-vowner", "DROP VIEW hr.totals") == "allow"
    assert admin_sql(server, "CREATE VIEW hr.totals AS SELECT 1 AS one") == "allow"
    assert run_pg(server, "vreader", "pw-vreader", "SELECT * FROM hr.totals") == "deny"


def test_notices_reach_psql_and_http(server):
    port = server.ports["pg"].rsplit(":", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={port} dbname=main user=admin password={server.admin_secret}",
                         autocommit=True) as conn:
        notices = []
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary))
        conn.execute("CREATE TABLE notice_pg (i INT) USING parquet")
        assert any("Delta" in n for n in notices), notices
    req = urllib.request.Request(server.ports["http"] + "/api/v1/statements", method="POST",
                                 data=json.dumps({"statement": "CREATE TABLE notice_http (i INT) USING csv"}).encode())
    req.add_header("Authorization", f"Bearer {server.admin_secret}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = json.loads(resp.read())
        assert any("Delta" in n for n in body["notices"]), body
        assert "Delta" in resp.headers["tarn-notice"]


def test_sql_functions_need_execute_and_run_with_the_callers_rights(server):
    """Unity Catalog's functions: EXECUTE to call one, CREATE FUNCTION on its schema to make
    one, its owner to replace or drop it; its body reads tables with the caller's rights, so a
    function never reads what its caller could not."""
    setup = [
        "CREATE SCHEMA fx",
        "CREATE TABLE fx.pay (name STRING, amount INT)",
        "INSERT INTO fx.pay VALUES ('ada', 10), ('bob', 20)",
        "CREATE USER fowner WITH PASSWORD 'pw-fowner'",
        "CREATE USER fcaller WITH PASSWORD 'pw-fcaller'",
        "GRANT USE CATALOG ON CATALOG main TO fowner",
        "GRANT USE CATALOG ON CATALOG main TO fcaller",
        "GRANT USE SCHEMA ON SCHEMA fx TO fowner",
        "GRANT USE SCHEMA ON SCHEMA fx TO fcaller",
        "GRANT SELECT ON TABLE fx.pay TO fowner",
    ]
    for sql in setup:
        assert admin_sql(server, sql) == "allow", sql
    owner = lambda sql: run_pg(server, "fowner", "pw-fowner", sql)
    caller = lambda sql: run_pg(server, "fcaller", "pw-fcaller", sql)
    # Making a function in a schema needs CREATE FUNCTION there.
    assert owner("CREATE FUNCTION fx.double(x INT) RETURNS INT RETURN x * 2") == "deny"
    assert admin_sql(server, "GRANT CREATE FUNCTION ON SCHEMA fx TO fowner") == "allow"
    assert owner("CREATE FUNCTION fx.double(x INT) RETURNS INT RETURN x * 2") == "allow"
    assert owner("CREATE FUNCTION fx.total_for(n STRING) RETURNS INT RETURN (SELECT sum(amount) FROM fx.pay WHERE name = n)") == "allow"
    assert owner("CREATE FUNCTION fx.pay_rows() RETURNS TABLE (name STRING, amount INT) RETURN SELECT * FROM fx.pay") == "allow"
    # Calling (or describing) needs EXECUTE.
    assert caller("SELECT fx.double(2)") == "deny"
    assert caller("DESCRIBE FUNCTION EXTENDED fx.double") == "deny"
    assert owner("GRANT EXECUTE ON FUNCTION fx.double TO fcaller") == "allow"
    assert caller("SELECT fx.double(2)") == "allow"
    assert caller("DESCRIBE FUNCTION EXTENDED fx.double") == "allow"
    # Over Postgres too the qualified name calls the function (its compatibility rewrites
    # strip qualifiers: `double(2)` would be a cast to DOUBLE, a silently wrong answer).
    port = server.ports["pg"].rsplit(":", 1)[1]
    with psycopg.connect(f"host=127.0.0.1 port={port} dbname=main user=fcaller password=pw-fcaller", autocommit=True) as conn:
        assert conn.execute("SELECT fx.double(2)").fetchone() == (4,)
    # EXECUTE does not give what the body reads: the caller's rights apply.
    assert owner("GRANT EXECUTE ON FUNCTION fx.total_for TO fcaller") == "allow"
    assert owner("GRANT EXECUTE ON FUNCTION fx.pay_rows TO fcaller") == "allow"
    assert caller("SELECT fx.total_for('ada')") == "deny"
    assert caller("SELECT * FROM fx.pay_rows()") == "deny"
    assert admin_sql(server, "GRANT SELECT ON TABLE fx.pay TO fcaller") == "allow"
    assert caller("SELECT fx.total_for('ada')") == "allow"
    assert caller("SELECT * FROM fx.pay_rows()") == "allow"
    # Only its owner replaces or drops it; a caller's temporary function is its own.
    assert caller("CREATE OR REPLACE FUNCTION fx.double(x INT) RETURNS INT RETURN x") == "deny"
    assert caller("DROP FUNCTION fx.double") == "deny"
    assert caller("CREATE TEMPORARY FUNCTION mine() RETURNS INT RETURN 1") == "allow"
    assert admin_sql(server, "REVOKE EXECUTE ON FUNCTION fx.double FROM fcaller") == "allow"
    assert caller("SELECT fx.double(2)") == "deny"
    assert owner("DROP FUNCTION fx.double") == "allow"
