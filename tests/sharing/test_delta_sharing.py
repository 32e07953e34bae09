"""Delta Sharing: the published `delta-sharing` Python connector (the protocol's reference
client) against `tarn serve`, plus the protocol's error cases over raw HTTP.

Runs in its own venv (scripts/test.sh: the connector pins pandas < 3 and pyarrow <= 23, which
the main venv is past). Tables, shares and recipients are made through Tarn's HTTP SQL API.
"""

import json
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import delta_sharing
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from tarn_server import TarnServer  # noqa: E402

DV_TABLE = ROOT / ".." / "shared" / "conformance" / "delta-rs" / "table-with-dv-small"
CDF_DV_TABLE = ROOT / ".." / "shared" / "conformance" / "delta-rs" / "cdf-table-with-cdc-and-dvs"


def sql(server, statement):
    status, body = server.sql_http(statement)
    assert status == 200, (statement, body)
    return body


def rows(server, statement):
    return sql(server, statement)["rows"]


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    base = tmp_path_factory.mktemp("sharing")
    server = TarnServer(base / "wh", pg=False, flight=False)
    dv = base / "dv-table"
    shutil.copytree(DV_TABLE, dv)
    cdf_dv = base / "cdf-dv-table"
    shutil.copytree(CDF_DV_TABLE, cdf_dv)
    for statement in [
        "CREATE TABLE sales (id BIGINT, region STRING, amount DOUBLE) PARTITIONED BY (region) "
        "TBLPROPERTIES (delta.enableChangeDataFeed = true)",
        "INSERT INTO sales VALUES (1, 'eu', 10.0), (2, 'us', 20.0)",  # v1
        "INSERT INTO sales VALUES (3, 'eu', 30.0)",  # v2
        "UPDATE sales SET amount = 31.0 WHERE id = 3",  # v3
        "DELETE FROM sales WHERE id = 2",  # v4
        "CREATE TABLE events (id BIGINT, v BIGINT)",
        "INSERT INTO events SELECT id, id * 2 FROM range(0, 100) AS r(id)",
        "INSERT INTO events SELECT id, id * 2 FROM range(100, 200) AS r(id)",
        "INSERT INTO events SELECT id, id * 2 FROM range(200, 300) AS r(id)",
        f"CREATE TABLE dvt LOCATION '{dv}'",
        f"CREATE TABLE cdfdv LOCATION '{cdf_dv}'",
        "CREATE SHARE retail COMMENT 'for partners'",
        "ALTER SHARE retail ADD TABLE sales AS shop.sales WITH HISTORY",
        "ALTER SHARE retail ADD TABLE sales AS shop.sales_eu PARTITION (region = 'eu')",
        "ALTER SHARE retail ADD TABLE events AS shop.events",
        "ALTER SHARE retail ADD TABLE dvt AS lab.dvt WITH HISTORY",
        "ALTER SHARE retail ADD TABLE cdfdv AS lab.cdfdv WITH HISTORY",
        "CREATE RECIPIENT acme",
        "GRANT SELECT ON SHARE retail TO RECIPIENT acme",
        "CREATE RECIPIENT nobody",
    ]:
        sql(server, statement)
    endpoint = server.addr["http"] + "/delta-sharing"
    profile = base / "acme.share"
    subprocess.run(
        [TarnServer.binary(), "--warehouse", str(base / "wh"), "sharing", "profile", "acme",
         "--endpoint", endpoint, "-o", str(profile)],
        check=True,
    )
    yield server, profile, base
    server.stop()


def url(profile, table):
    return f"{profile}#retail.{table}"


def request(method, target, token=None, body=None, headers=None):
    """(status, headers, body) of one raw HTTP request."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(target, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def profile_of(path):
    return json.loads(pathlib.Path(path).read_text())


def query_lines(profile, table, body="{}", headers=None):
    p = profile_of(profile)
    target = f"{p['endpoint']}/shares/retail/schemas/{table}/query"
    status, head, data = request("POST", target, p["bearerToken"], body,
                                 {"Content-Type": "application/json", **(headers or {})})
    assert status == 200, data
    return head, [json.loads(line) for line in data.decode().splitlines() if line]


def test_listing_shows_the_granted_share_and_its_tables(provider):
    _, profile, _ = provider
    client = delta_sharing.SharingClient(str(profile))
    assert [s.name for s in client.list_shares()] == ["retail"]
    tables = {(t.schema, t.name) for t in client.list_all_tables()}
    assert tables == {("shop", "sales"), ("shop", "sales_eu"), ("shop", "events"), ("lab", "dvt"), ("lab", "cdfdv")}
    assert sorted(s.name for s in client.list_schemas(delta_sharing.Share("retail"))) == ["lab", "shop"]


def test_pages_of_a_listing_come_with_tokens(provider):
    _, profile, _ = provider
    p = profile_of(profile)
    seen, token = [], None
    while True:
        query = "?maxResults=1" + (f"&pageToken={token}" if token else "")
        status, _, body = request("GET", f"{p['endpoint']}/shares/retail/all-tables{query}", p["bearerToken"])
        assert status == 200, body
        page = json.loads(body)
        assert len(page["items"]) <= 1
        seen += [t["name"] for t in page["items"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == ["cdfdv", "dvt", "events", "sales", "sales_eu"]


def test_load_as_pandas_reads_the_current_version(provider):
    _, profile, _ = provider
    df = delta_sharing.load_as_pandas(url(profile, "shop.sales"))
    assert sorted(zip(df["id"], df["region"], df["amount"])) == [(1, "eu", 10.0), (3, "eu", 31.0)]


def test_a_partition_clause_shares_only_those_partitions(provider):
    server, profile, _ = provider
    sql(server, "INSERT INTO sales VALUES (4, 'us', 40.0)")
    try:
        df = delta_sharing.load_as_pandas(url(profile, "shop.sales_eu"))
        assert set(df["region"]) == {"eu"} and sorted(df["id"]) == [1, 3]
        # The table's size as the share reports it counts the shared partitions only.
        _, eu = query_lines(profile, "shop/tables/sales_eu")
        _, whole = query_lines(profile, "shop/tables/sales")
        eu_meta = next(line["metaData"] for line in eu if "metaData" in line)
        whole_meta = next(line["metaData"] for line in whole if "metaData" in line)
        eu_files = [line["file"] for line in eu if "file" in line]
        assert eu_meta["numFiles"] == len(eu_files) < whole_meta["numFiles"]
        assert eu_meta["size"] == sum(f["size"] for f in eu_files) < whole_meta["size"]
    finally:
        sql(server, "DELETE FROM sales WHERE id = 4")


def test_time_travel_reads_an_earlier_version(provider):
    _, profile, _ = provider
    df = delta_sharing.load_as_pandas(url(profile, "shop.sales"), version=1)
    assert sorted(df["id"]) == [1, 2]
    df = delta_sharing.load_as_pandas(url(profile, "shop.sales"), version=2)
    assert sorted(zip(df["id"], df["amount"])) == [(1, 10.0), (2, 20.0), (3, 30.0)]


def test_a_limit_hint_returns_fewer_files_and_the_limit_holds(provider):
    _, profile, _ = provider
    _, all_lines = query_lines(profile, "shop/tables/events")
    assert sum("file" in line for line in all_lines) == 3
    _, limited = query_lines(profile, "shop/tables/events", json.dumps({"limitHint": 5}))
    assert sum("file" in line for line in limited) == 1
    df = delta_sharing.load_as_pandas(url(profile, "shop.events"), limit=5)
    assert len(df) == 5


def test_predicate_hints_skip_files_by_their_statistics(provider):
    _, profile, _ = provider
    hint = json.dumps({"op": "greaterThanOrEqual", "children": [
        {"op": "column", "name": "id", "valueType": "long"},
        {"op": "literal", "value": "250", "valueType": "long"}]})
    _, lines = query_lines(profile, "shop/tables/events", json.dumps({"jsonPredicateHints": hint}))
    files = [line["file"] for line in lines if "file" in line]
    assert len(files) == 1 and json.loads(files[0]["stats"])["minValues"]["id"] == 200
    # The SQL form of hints prunes the same way.
    _, lines = query_lines(profile, "shop/tables/events", json.dumps({"predicateHints": ["id < 100"]}))
    assert sum("file" in line for line in lines) == 1
    # The connector passes the hint on; the rows it reads are those of the one file.
    df = delta_sharing.load_as_pandas(url(profile, "shop.events"), jsonPredicateHints=hint)
    assert sorted(df["id"]) == list(range(200, 300))


def test_change_data_feed_matches_table_changes(provider):
    server, profile, _ = provider
    df = delta_sharing.load_table_changes_as_pandas(url(profile, "shop.sales"), starting_version=1, ending_version=4)
    shared = sorted(zip(df["id"], df["_change_type"], df["_commit_version"]))
    own = sorted((r["id"], r["_change_type"], r["_commit_version"]) for r in rows(
        server, "SELECT id, _change_type, _commit_version FROM table_changes('sales', 1, 4)"))
    assert shared == own
    assert (3, "update_postimage", 3) in shared and (2, "delete", 4) in shared
    assert set(df["_commit_timestamp"]) and all(t > 0 for t in df["_commit_timestamp"])


def test_a_query_from_a_starting_version_lists_the_changed_files(provider):
    """Spark's streaming reads ask for the files each version added and removed."""
    _, profile, _ = provider
    _, lines = query_lines(profile, "shop/tables/sales", json.dumps({"startingVersion": 2, "endingVersion": 4}))
    assert "protocol" in lines[0] and "metaData" in lines[1]
    changes = [(key, body["version"]) for line in lines[2:] for key, body in line.items() if key != "metaData"]
    assert ("add", 2) in changes
    assert {v for _, v in changes} <= {2, 3, 4} and all(k in ("add", "remove") for k, _ in changes)
    assert all(body["url"].startswith("http") and body["timestamp"] > 0
               for line in lines[2:] for key, body in line.items() if key != "metaData")


def test_deletion_vectors_are_served_in_the_delta_format(provider):
    _, profile, _ = provider
    # Autoresolved: the table needs deletion vectors, so the server answers in the delta format.
    df = delta_sharing.load_as_pandas(url(profile, "lab.dvt"))
    assert sorted(df["value"]) == list(range(1, 9))
    head, lines = query_lines(profile, "lab/tables/dvt", headers={
        "delta-sharing-capabilities": "responseformat=delta;readerfeatures=deletionvectors"})
    assert head["delta-sharing-capabilities"] == "responseformat=delta"
    add = lines[2]["file"]["deltaSingleAction"]["add"]
    # The deletion vector travels inline (no second URL per file), with its cardinality.
    assert add["deletionVector"]["storageType"] == "i" and add["deletionVector"]["cardinality"] == 2
    assert add["path"].startswith("http")
    # A parquet-only client cannot read it correctly: refused with the reason.
    p = profile_of(profile)
    status, _, body = request("POST", f"{p['endpoint']}/shares/retail/schemas/lab/tables/dvt/query",
                              p["bearerToken"], "{}", {"Content-Type": "application/json"})
    assert status == 400 and "responseformat=delta" in json.loads(body)["message"]


def test_changes_of_a_deletion_vector_table_in_the_delta_format(provider):
    """A table whose DELETEs wrote deletion vectors and change files: the connector reads its
    feed through the Delta kernel; it must agree with Tarn's own table_changes."""
    server, profile, _ = provider
    last = rows(server, "DESCRIBE HISTORY cdfdv LIMIT 1")[0]["version"]
    df = delta_sharing.load_table_changes_as_pandas(url(profile, "lab.cdfdv"), starting_version=0,
                                                     ending_version=last, use_delta_format=True)
    columns = [c for c in df.columns if not c.startswith("_")]
    shared = sorted(tuple([*(df[c][i] for c in columns), df["_change_type"][i], int(df["_commit_version"][i])])
                    for i in range(len(df)))
    own = sorted(tuple([*(r[c] for c in columns), r["_change_type"], r["_commit_version"]]) for r in rows(
        server, f"SELECT * FROM table_changes('cdfdv', 0, {last})"))
    assert len(shared) > 0 and shared == own


def test_the_version_at_a_timestamp(provider):
    server, profile, _ = provider
    history = {r["version"]: r["timestamp"] for r in rows(server, "DESCRIBE HISTORY sales")}
    p = profile_of(profile)
    target = f"{p['endpoint']}/shares/retail/schemas/shop/tables/sales/version"
    status, head, _ = request("GET", target, p["bearerToken"])
    assert status == 200 and int(head["delta-table-version"]) == max(history)
    ts = urllib.parse.quote(history[2])
    status, head, _ = request("GET", f"{target}?startingTimestamp={ts}", p["bearerToken"])
    assert status == 200 and int(head["delta-table-version"]) == 2
    status, _, body = request("GET", f"{target}?startingTimestamp=yesterday", p["bearerToken"])
    assert status == 400 and "startingTimestamp" in json.loads(body)["message"]


def test_explicit_delta_format_reads_a_plain_table_too(provider):
    _, profile, _ = provider
    df = delta_sharing.load_as_pandas(url(profile, "shop.sales"), use_delta_format=True)
    assert sorted(df["id"]) == [1, 3]


def test_file_urls_support_head_and_ranges(provider):
    _, profile, _ = provider
    _, lines = query_lines(profile, "shop/tables/events")
    file = next(line["file"] for line in lines if "file" in line)
    status, head, body = request("HEAD", file["url"])
    assert status == 200 and int(head["Content-Length"]) == file["size"] and body == b""
    status, head, body = request("GET", file["url"], headers={"Range": "bytes=0-3"})
    assert status == 206 and body == b"PAR1" and head["Content-Range"] == f"bytes 0-3/{file['size']}"
    status, _, body = request("GET", file["url"], headers={"Range": "bytes=-4"})
    assert status == 206 and body == b"PAR1"
    status, _, body = request("GET", file["url"])
    assert status == 200 and len(body) == file["size"]


def error_of(status_body):
    status, _, body = status_body
    return status, json.loads(body)["errorCode"], json.loads(body)["message"]


def test_bad_tokens_are_refused_with_the_protocols_errors(provider):
    server, profile, base = provider
    endpoint = profile_of(profile)["endpoint"]
    status, code, _ = error_of(request("GET", f"{endpoint}/shares"))
    assert (status, code) == (401, "UNAUTHENTICATED")
    status, code, _ = error_of(request("GET", f"{endpoint}/shares", "tarnshare_0123_nope"))
    assert (status, code) == (401, "UNAUTHENTICATED")
    # A recipient that was not granted the share.
    out = subprocess.run([TarnServer.binary(), "--warehouse", str(base / "wh"), "sharing", "profile", "nobody",
                          "--endpoint", endpoint], check=True, capture_output=True, text=True)
    nobody = json.loads(out.stdout)["bearerToken"]
    status, _, body = request("GET", f"{endpoint}/shares", nobody)
    assert status == 200 and json.loads(body)["items"] == []
    # A share not granted answers as one that does not exist: its name is not revealed.
    status, code, message = error_of(request("GET", f"{endpoint}/shares/retail/all-tables", nobody))
    assert (status, code) == (404, "RESOURCE_DOES_NOT_EXIST") and "nobody" in message
    assert error_of(request("GET", f"{endpoint}/shares/no_such_share/all-tables", nobody))[:2] == (status, code)


def test_rotation_expires_old_tokens_and_dropping_a_recipient_revokes_at_once(provider):
    server, profile, base = provider
    endpoint = profile_of(profile)["endpoint"]
    sql(server, "CREATE RECIPIENT temp")
    sql(server, "GRANT SELECT ON SHARE retail TO RECIPIENT temp")
    link = rows(server, "ALTER RECIPIENT temp ROTATE TOKEN EXPIRES IN 1 HOURS")[0]["activation_link"]
    status, head, body = request("GET", link)
    assert status == 200 and "attachment" in head["Content-Disposition"]
    old = json.loads(body)
    assert old["endpoint"] == endpoint and "expirationTime" in old
    assert request("GET", link)[0] == 404, "an activation link works once"
    assert request("GET", f"{endpoint}/shares", old["bearerToken"])[0] == 200
    link = rows(server, "ALTER RECIPIENT temp ROTATE TOKEN")[0]["activation_link"]
    new = json.loads(request("GET", link)[2])
    status, code, message = error_of(request("GET", f"{endpoint}/shares", old["bearerToken"]))
    assert (status, code) == (401, "UNAUTHENTICATED") and "expired" in message
    assert request("GET", f"{endpoint}/shares", new["bearerToken"])[0] == 200
    sql(server, "DROP RECIPIENT temp")
    assert error_of(request("GET", f"{endpoint}/shares", new["bearerToken"]))[:2] == (401, "UNAUTHENTICATED")


def test_missing_tables_and_history_rules(provider):
    _, profile, _ = provider
    p = profile_of(profile)
    token, endpoint = p["bearerToken"], p["endpoint"]
    status, code, _ = error_of(request("GET", f"{endpoint}/shares/retail/schemas/shop/tables/nope/metadata", token))
    assert (status, code) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, code, _ = error_of(request("GET", f"{endpoint}/shares/elsewhere/all-tables", token))
    assert (status, code) == (404, "RESOURCE_DOES_NOT_EXIST")
    # events is shared without history: no time travel, no change feed.
    status, code, message = error_of(request(
        "POST", f"{endpoint}/shares/retail/schemas/shop/tables/events/query", token, '{"version": 1}',
        {"Content-Type": "application/json"}))
    assert (status, code) == (403, "PERMISSION_DENIED") and "WITH HISTORY" in message
    status, _, _ = request("GET", f"{endpoint}/shares/retail/schemas/shop/tables/events/changes?startingVersion=0", token)
    assert status == 403


def test_malformed_requests_get_400_with_a_message(provider):
    _, profile, _ = provider
    p = profile_of(profile)
    target = f"{p['endpoint']}/shares/retail/schemas/shop/tables/sales/query"
    for body in ["{", '{"limitHint": "x"}', '{"version": 1, "timestamp": "2024-01-01T00:00:00Z"}',
                 '{"jsonPredicateHints": "{not json"}']:
        status, code, message = error_of(request("POST", target, p["bearerToken"], body,
                                                 {"Content-Type": "application/json"}))
        assert (status, code) == (400, "INVALID_PARAMETER_VALUE") and message, body
    status, code, _ = error_of(request("GET", f"{p['endpoint']}/shares?maxResults=-1", p["bearerToken"]))
    assert (status, code) == (400, "INVALID_PARAMETER_VALUE")
    changes = f"{p['endpoint']}/shares/retail/schemas/shop/tables/sales/changes"
    assert error_of(request("GET", changes, p["bearerToken"]))[0] == 400
    assert error_of(request("GET", changes + "?startingVersion=99", p["bearerToken"]))[0] == 400


def test_tampered_and_expired_file_urls_are_refused(provider):
    server, profile, base = provider
    _, lines = query_lines(profile, "shop/tables/events")
    file_url = next(line["file"]["url"] for line in lines if "file" in line)
    path, signature = file_url.split("?X-Amz-Signature=")
    prefix, payload = path.rsplit("/", 1)
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    wrong = signature[:-2] + ("xx" if signature[-2:] != "xx" else "yy")
    for bad in [f"{prefix}/{forged}?X-Amz-Signature={signature}",
                f"{prefix}/{payload}?X-Amz-Signature={wrong}", f"{prefix}/{payload}"]:
        status, code, _ = error_of(request("GET", bad))
        assert (status, code) == (403, "PERMISSION_DENIED")
    # A second server on the same warehouse, handing out URLs that live one second.
    short = TarnServer(base / "wh", pg=False, flight=False, env={"TARN_SHARING_URL_LIFETIME_SECS": "1"})
    try:
        p = profile_of(profile)
        target = short.addr["http"] + "/delta-sharing/shares/retail/schemas/shop/tables/events/query"
        status, _, body = request("POST", target, p["bearerToken"], "{}", {"Content-Type": "application/json"})
        assert status == 200
        lines = [json.loads(line) for line in body.decode().splitlines() if line]
        file_url = next(line["file"]["url"] for line in lines if "file" in line)
        time.sleep(1.5)
        status, code, message = error_of(request("GET", file_url))
        assert (status, code) == (403, "PERMISSION_DENIED") and "expired" in message
    finally:
        short.stop()
    # Revoking the share from the recipient, or dropping the recipient, stops its URLs at once.
    sql(server, "CREATE RECIPIENT leaver")
    sql(server, "GRANT SELECT ON SHARE retail TO RECIPIENT leaver")
    out = subprocess.run([TarnServer.binary(), "--warehouse", str(base / "wh"), "sharing", "profile", "leaver",
                          "--endpoint", profile_of(profile)["endpoint"]], check=True, capture_output=True, text=True)
    leaver = base / "leaver.share"
    leaver.write_text(out.stdout)
    _, lines = query_lines(str(leaver), "shop/tables/events")
    file_url = next(line["file"]["url"] for line in lines if "file" in line)
    assert request("GET", file_url)[0] == 200
    sql(server, "REVOKE SELECT ON SHARE retail FROM RECIPIENT leaver")
    assert error_of(request("GET", file_url))[:2] == (403, "PERMISSION_DENIED")
    sql(server, "GRANT SELECT ON SHARE retail TO RECIPIENT leaver")
    assert request("GET", file_url)[0] == 200
    sql(server, "DROP RECIPIENT leaver")
    assert error_of(request("GET", file_url))[:2] == (403, "PERMISSION_DENIED")
    # Removing the table from the share stops its URLs at once.
    _, lines = query_lines(profile, "shop/tables/events")
    file_url = next(line["file"]["url"] for line in lines if "file" in line)
    sql(server, "ALTER SHARE retail REMOVE TABLE shop.events")
    try:
        assert error_of(request("GET", file_url))[:2] == (403, "PERMISSION_DENIED")
    finally:
        sql(server, "ALTER SHARE retail ADD TABLE events AS shop.events")


def test_every_access_is_audited(provider):
    server, profile, _ = provider
    delta_sharing.load_as_pandas(url(profile, "shop.sales"))
    deadline = time.time() + 30
    while time.time() < deadline:
        got = rows(server, "SELECT principal, statement, tables FROM system.access.audit "
                           "WHERE protocol = 'delta-sharing' AND statement LIKE 'QUERY retail.shop.sales %'")
        if got:
            break
        time.sleep(0.5)
    assert got, "no audit row for the query"
    principal, statement, tables = got[-1]["principal"], got[-1]["statement"], got[-1]["tables"]
    assert principal == "recipient:acme" and "files=" in statement and "version=" in statement
    assert "main.default.sales" in json.dumps(tables)


def test_sql_shows_shares_recipients_and_grants(provider):
    server, _, _ = provider
    assert [r["name"] for r in rows(server, "SHOW SHARES")] == ["retail"]
    shown = {r["name"]: r for r in rows(server, "SHOW ALL IN SHARE retail")}
    assert shown["shop.sales"]["shared_object"] == "main.default.sales" and shown["shop.sales"]["history_sharing"] is True
    assert shown["shop.sales_eu"]["partitions"] == "region = 'eu'" and shown["shop.sales_eu"]["history_sharing"] is False
    assert {r["name"] for r in rows(server, "SHOW RECIPIENTS")} >= {"acme", "nobody"}
    assert rows(server, "SHOW GRANTS ON SHARE retail") == [{"recipient": "acme", "privilege": "SELECT", "share": "retail"}]
    status, body = server.sql_http("ALTER SHARE retail ADD TABLE sales AS shop.sales")
    assert status == 409 or status == 400, body
    status, body = server.sql_http("ALTER SHARE retail ADD TABLE sales PARTITION (amount = 1)")
    assert status == 400 and "not a partition column" in json.dumps(body)
    status, body = server.sql_http("GRANT SELECT ON SHARE retail TO RECIPIENT ghost")
    assert status == 400 and "ghost" in json.dumps(body)


def test_an_s3_warehouse_hands_out_s3_presigned_urls(tmp_path):
    from s3_server import S3Server

    s3 = S3Server(tmp_path / "s3")
    server = TarnServer(s3.warehouse(), pg=False, flight=False, env=s3.env(tmp_path / "cache"))
    try:
        for statement in ["CREATE TABLE t AS SELECT id, id * 10 AS v FROM range(0, 50) AS r(id)",
                          "CREATE SHARE s3share", "ALTER SHARE s3share ADD TABLE t AS x.t",
                          "CREATE RECIPIENT r", "GRANT SELECT ON SHARE s3share TO RECIPIENT r"]:
            sql(server, statement)
        link = rows(server, "ALTER RECIPIENT r ROTATE TOKEN")[0]["activation_link"]
        profile = tmp_path / "r.share"
        profile.write_bytes(request("GET", link)[2])
        p = profile_of(profile)
        status, _, body = request("POST", f"{p['endpoint']}/shares/s3share/schemas/x/tables/t/query",
                                  p["bearerToken"], "{}", {"Content-Type": "application/json"})
        assert status == 200, body
        files = [json.loads(line)["file"] for line in body.decode().splitlines() if '"file"' in line]
        assert files and all(f["url"].startswith(s3.endpoint) and "X-Amz-Signature=" in f["url"] for f in files)
        df = delta_sharing.load_as_pandas(f"{profile}#s3share.x.t")
        assert sorted(df["v"]) == [i * 10 for i in range(50)]
    finally:
        server.stop()
        s3.stop()
