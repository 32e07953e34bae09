"""`tarn serve`'s HTTP API, driven over real sockets: bearer-token auth, JSON, CSV and Arrow IPC
results, errors with statuses, catalog browsing, async statements, metrics, a clean stop on
SIGTERM."""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

import pyarrow.ipc as ipc
import pytest

TARN = os.environ.get("TARN_BIN", "tarn")


TOKENS = {}


def start(warehouse, *extra):
    proc = subprocess.Popen(
        [TARN, "--warehouse", str(warehouse), "serve", "--http-addr", "127.0.0.1:0", "--pg-addr", "off", "--flight-addr", "off", *extra],
        stderr=subprocess.PIPE, text=True,
    )
    token = None
    while True:
        line = proc.stderr.readline()
        assert line, "the server exited before listening"
        if "(shown only now): " in line:
            token = line.strip().rsplit(" ", 1)[1]
        if "listening on http://" in line:
            base = line.strip().split("listening on ")[1]
            TOKENS[base] = token
            return base, proc, token


@pytest.fixture
def server(tmp_path):
    base, proc, token = start(tmp_path / "wh")
    assert token and token.startswith("tarn_"), "the first start prints an admin token"
    yield base, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def authorize(req, base, token=None):
    token = token or TOKENS.get(base)
    if token:
        req.add_header("Authorization", f"Bearer {token}")


def post(base, body, accept=None, token=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + "/api/v1/statements", data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    authorize(req, base, token)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.read()


def test_statements_return_json_csv_and_arrow(server):
    base, _ = server
    with urllib.request.urlopen(base + "/healthz", timeout=10) as resp:
        assert resp.read() == b"ok"
    # The root says what the server is and where its API is described, without a token.
    with urllib.request.urlopen(base + "/", timeout=10) as resp:
        page = resp.read().decode()
        assert resp.headers.get("Content-Type").startswith("text/html")
        assert "Tarn" in page and "/api/v1/openapi.json" in page and "/api/v1/statements" in page
    status, _, body = post(base, {"statement": "CREATE TABLE t (id INT, name STRING); "
                                               "INSERT INTO t VALUES (1, 'a'), (2, 'b, c')"})
    assert status == 200, body
    assert json.loads(body)["rows"] == [{"num_affected_rows": 2, "num_inserted_rows": 2}]

    status, ctype, body = post(base, {"statement": "SELECT * FROM t ORDER BY id"})
    assert status == 200 and ctype == "application/json"
    doc = json.loads(body)
    assert [c["name"] for c in doc["columns"]] == ["id", "name"]
    # Types in Spark's SQL names, as the browse endpoints and DESCRIBE give them.
    assert [c["type"] for c in doc["columns"]] == ["int", "string"]
    assert doc["rows"] == [{"id": 1, "name": "a"}, {"id": 2, "name": "b, c"}]
    status, _, body = post(base, {"statement": "SELECT array(name) AS a, upper(name) FROM t ORDER BY id LIMIT 1"})
    assert status == 200, body
    assert [(c["name"], c["type"]) for c in json.loads(body)["columns"]] == [("a", "array<string>"), ("upper(name)", "string")]
    assert doc["row_count"] == 2

    status, ctype, body = post(base, {"statement": "SELECT * FROM t ORDER BY id"}, accept="text/csv")
    assert (status, ctype) == (200, "text/csv")
    assert body.decode() == 'id,name\n1,a\n2,"b, c"\n'

    status, ctype, body = post(base, {"statement": "SELECT * FROM t ORDER BY id"},
                               accept="application/vnd.apache.arrow.stream")
    assert status == 200 and ctype == "application/vnd.apache.arrow.stream"
    table = ipc.open_stream(body).read_all()
    assert table.column("id").to_pylist() == [1, 2]

    # Sessions are per request; catalog and schema can be given.
    post(base, {"statement": "CREATE SCHEMA s; CREATE TABLE s.u (x INT); INSERT INTO s.u VALUES (7)"})
    status, _, body = post(base, {"statement": "SELECT x FROM u", "schema": "s"})
    assert json.loads(body)["rows"] == [{"x": 7}]


def test_errors_have_statuses_and_messages(server):
    base, _ = server
    status, _, body = post(base, {"statement": "SELECT * FROM missing"})
    assert status == 404
    assert "not found" in json.loads(body)["error"]["message"]
    status, _, body = post(base, {"statement": "SELEC 1"})
    assert status == 400 and "syntax error" in json.loads(body)["error"]["message"]
    status, _, body = post(base, b"not json")
    assert status == 400 and "must be JSON" in json.loads(body)["error"]["message"]
    post(base, {"statement": "CREATE TABLE dup (a INT)"})
    status, _, _ = post(base, {"statement": "CREATE TABLE dup (a INT)"})
    assert status == 409


def test_sigterm_stops_the_server_cleanly(server):
    base, proc = server
    post(base, {"statement": "SELECT 1"})
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert "stopped" in proc.stderr.read()


def test_no_auth_is_for_loopback_only(tmp_path):
    out = subprocess.run([TARN, "--warehouse", str(tmp_path / "wh"), "serve", "--http-addr", "0.0.0.0:0",
                          "--insecure-no-auth"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "loopback" in out.stderr
    base, proc, token = start(tmp_path / "wh", "--insecure-no-auth")
    try:
        assert token is None
        status, _, body = post(base, {"statement": "SELECT 1 AS one"})
        assert status == 200 and json.loads(body)["rows"] == [{"one": 1}]
    finally:
        proc.kill()
        proc.wait()


def test_requests_need_a_valid_token(server, tmp_path):
    base, proc = server
    status, _, body = post(base, {"statement": "SELECT 1"}, token="none")
    assert status == 401 and "invalid" in json.loads(body)["error"]["message"]
    req = urllib.request.Request(base + "/api/v1/catalogs")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as err:
        assert err.code == 401 and "Bearer" in json.loads(err.read())["error"]["message"]
    # Health and metrics stay open for probes.
    with urllib.request.urlopen(base + "/healthz", timeout=10) as resp:
        assert resp.status == 200

    # Users and tokens are made offline, on the warehouse, and work at once.
    warehouse = tmp_path / "wh"
    made = subprocess.run([TARN, "--warehouse", str(warehouse), "user", "create", "ada"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    token = subprocess.run([TARN, "--warehouse", str(warehouse), "token", "create", "--user", "ada"],
                           capture_output=True, text=True).stdout.strip()
    status, _, body = post(base, {"statement": "SELECT 2 AS two"}, token=token)
    assert status == 200 and json.loads(body)["rows"] == [{"two": 2}]
    expired = subprocess.run([TARN, "--warehouse", str(warehouse), "token", "create", "--user", "ada",
                              "--ttl-hours=-1"], capture_output=True, text=True)
    assert expired.returncode == 0 and expired.stdout.startswith("tarn_"), expired.stderr
    assert post(base, {"statement": "SELECT 1"}, token=expired.stdout.strip())[0] == 401
    # Revoked tokens stop working at once.
    token_id = token.split("_")[1]
    listed = subprocess.run([TARN, "--warehouse", str(warehouse), "token", "list", "--user", "ada"],
                            capture_output=True, text=True).stdout
    assert token_id in listed and token.split("_")[2] not in listed
    revoked = subprocess.run([TARN, "--warehouse", str(warehouse), "token", "revoke", token_id],
                             capture_output=True, text=True)
    assert revoked.returncode == 0, revoked.stderr
    assert post(base, {"statement": "SELECT 1"}, token=token)[0] == 401
    missing = subprocess.run([TARN, "--warehouse", str(warehouse), "token", "create", "--user", "nobody"],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "does not exist" in missing.stderr


def get(base, path, token=None):
    req = urllib.request.Request(base + path)
    authorize(req, base, token)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_catalog_browse_endpoints(server):
    base, _ = server
    post(base, {"statement": "CREATE SCHEMA sales; "
                             "CREATE TABLE sales.orders (id BIGINT NOT NULL, region STRING) PARTITIONED BY (region)"})
    # `system` holds the audit log (system.access.audit).
    assert get(base, "/api/v1/catalogs") == (200, {"catalogs": ["main", "system"]})
    status, doc = get(base, "/api/v1/catalogs/main/schemas")
    assert status == 200 and doc["schemas"] == ["default", "sales"]
    status, doc = get(base, "/api/v1/catalogs/main/schemas/sales/tables")
    assert [t["name"] for t in doc["tables"]] == ["orders"] and doc["tables"][0]["kind"] == "managed"
    post(base, {"statement": "CREATE VIEW sales.eu COMMENT 'eu only' AS SELECT id FROM sales.orders WHERE region = 'eu'"})
    status, doc = get(base, "/api/v1/catalogs/main/schemas/sales/tables")
    assert [(t["name"], t["kind"]) for t in doc["tables"]] == [("orders", "managed"), ("eu", "view")]
    status, doc = get(base, "/api/v1/catalogs/main/schemas/sales/tables/orders")
    assert status == 200
    assert [(c["col_name"], c["data_type"]) for c in doc["columns"]] == [("id", "bigint not null"), ("region", "string")]
    assert doc["detail"]["partitionColumns"] == ["region"] and doc["detail"]["format"] == "delta"
    status, doc = get(base, "/api/v1/catalogs/main/schemas/nope/tables")
    assert status == 404 and "not found" in doc["error"]["message"]


def test_metrics_count_statements_errors_and_commits(server):
    base, _ = server
    post(base, {"statement": "CREATE TABLE m (a INT); INSERT INTO m VALUES (1); SELECT * FROM m"})
    post(base, {"statement": "SELECT * FROM nowhere"})
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        assert resp.headers.get("Content-Type").startswith("text/plain")
        text = resp.read().decode()
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")}
    assert values["tarn_statements_total"] == 4
    assert values["tarn_statement_errors_total"] == 1
    assert values["tarn_commits_total"] == 2
    assert values["tarn_request_duration_seconds_count"] == 2


def test_openapi_document_lists_every_route(server):
    base, _ = server
    status, doc = get(base, "/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    for path in ["/api/v1/statements", "/api/v1/catalogs", "/healthz", "/metrics",
                 "/api/v1/catalogs/{catalog}/schemas/{schema}/tables/{table}"]:
        assert path in doc["paths"], path
    # Every documented GET path that needs no parameters answers.
    for path, item in doc["paths"].items():
        if "get" in item and "{" not in path:
            req = urllib.request.Request(base + path)
            authorize(req, base)
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200, path


def test_long_statements_run_asynchronously_and_can_be_cancelled(server):
    base, _ = server
    # Quick enough to finish within the wait: the result comes back at once.
    status, _, body = post(base, {"statement": "SELECT 1 AS one", "wait_timeout_ms": 30000})
    doc = json.loads(body)
    assert status == 200 and doc["status"] == "SUCCEEDED" and doc["rows"] == [{"one": 1}]
    assert get(base, f"/api/v1/statements/{doc['statement_id']}")[1]["rows"] == [{"one": 1}]

    # Far too long to finish: 202 with an id, still running when polled, then cancelled.
    slow = "SELECT count(*) AS n FROM generate_series(1, 100000000000)"
    status, _, body = post(base, {"statement": slow, "wait_timeout_ms": 50})
    doc = json.loads(body)
    assert status == 202 and doc["status"] == "RUNNING", doc
    sid = doc["statement_id"]
    assert get(base, f"/api/v1/statements/{sid}") == (202, {"statement_id": sid, "status": "RUNNING"})
    req = urllib.request.Request(f"{base}/api/v1/statements/{sid}/cancel", data=b"", method="POST")
    authorize(req, base)
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert json.loads(resp.read())["status"] == "CANCELED"
    assert get(base, f"/api/v1/statements/{sid}")[1]["status"] == "CANCELED"

    # Failures keep their status and message.
    status, _, body = post(base, {"statement": "SELECT * FROM nope", "wait_timeout_ms": 30000})
    doc = json.loads(body)
    assert status == 404 and doc["status"] == "FAILED" and "not found" in doc["error"]["message"]
    assert get(base, "/api/v1/statements/no-such-id")[0] == 404


def test_requests_can_choose_their_catalog(server):
    base, _ = server
    post(base, {"statement": "CREATE CATALOG dev; CREATE TABLE dev.default.only_here (a INT)"})
    status, _, body = post(base, {"statement": "SHOW TABLES", "catalog": "dev"})
    assert status == 200 and [r["tableName"] for r in json.loads(body)["rows"]] == ["only_here"]
