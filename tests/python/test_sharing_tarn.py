"""Tarn to Tarn over Delta Sharing: one `tarn serve` shares tables, another registers them with
CREATE TABLE ... USING deltaSharing and reads them (current version, time travel, the change
feed, deletion vectors), both real servers on loopback."""

import json
import pathlib
import shutil
import urllib.request

import pytest

from tarn_server import TarnServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
DV_TABLE = ROOT / ".." / "shared" / "conformance" / "delta-rs" / "table-with-dv-small"


def sql(server, statement):
    status, body = server.sql_http(statement)
    assert status == 200, (statement, body)
    return body["rows"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("tarn-to-tarn")
    provider = TarnServer(base / "provider", pg=False, flight=False)
    recipient = TarnServer(base / "recipient", pg=False, flight=False, env={"XDG_CACHE_HOME": str(base / "cache")})
    dv = base / "dv-table"
    shutil.copytree(DV_TABLE, dv)
    for statement in [
        "CREATE SCHEMA sales",
        "CREATE TABLE sales.orders (id BIGINT, region STRING, amount DOUBLE) PARTITIONED BY (region) "
        "TBLPROPERTIES (delta.enableChangeDataFeed = true)",
        "INSERT INTO sales.orders VALUES (1, 'eu', 10.0), (2, 'us', 20.0)",  # v1
        "INSERT INTO sales.orders VALUES (3, 'eu', 30.0)",  # v2
        "UPDATE sales.orders SET amount = 31.0 WHERE id = 3",  # v3
        "DELETE FROM sales.orders WHERE id = 2",  # v4
        f"CREATE TABLE sales.dv LOCATION '{dv}'",
        "CREATE SHARE partners",
        "ALTER SHARE partners ADD TABLE sales.orders WITH HISTORY",
        "ALTER SHARE partners ADD TABLE sales.dv",
    ]:
        sql(provider, statement)
    link = sql(provider, "CREATE RECIPIENT acme")[0]["activation_link"]
    sql(provider, "GRANT SELECT ON SHARE partners TO RECIPIENT acme")
    with urllib.request.urlopen(link, timeout=30) as resp:
        profile = base / "acme.share"
        profile.write_bytes(resp.read())
    sql(recipient, f"CREATE TABLE orders USING deltaSharing LOCATION '{profile}#partners.sales.orders'")
    yield provider, recipient, profile
    provider.stop()
    recipient.stop()


def test_the_recipient_reads_the_current_version(pair):
    provider, recipient, _ = pair
    theirs = sql(provider, "SELECT * FROM sales.orders ORDER BY id")
    assert sql(recipient, "SELECT * FROM orders ORDER BY id") == theirs == [
        {"id": 1, "region": "eu", "amount": 10.0}, {"id": 3, "region": "eu", "amount": 31.0}]
    described = {r["col_name"]: r["data_type"] for r in sql(recipient, "DESCRIBE TABLE orders")}
    assert described["id"] == "bigint" and described["region"] == "string"


def test_a_share_is_live_not_a_copy(pair):
    provider, recipient, _ = pair
    sql(provider, "INSERT INTO sales.orders VALUES (5, 'us', 50.0)")
    try:
        assert [r["id"] for r in sql(recipient, "SELECT id FROM orders ORDER BY id")] == [1, 3, 5]
    finally:
        sql(provider, "DELETE FROM sales.orders WHERE id = 5")
    assert [r["id"] for r in sql(recipient, "SELECT id FROM orders ORDER BY id")] == [1, 3]


def test_time_travel_and_the_path_form(pair):
    provider, recipient, profile = pair
    for version in (1, 2):
        theirs = sql(provider, f"SELECT * FROM sales.orders VERSION AS OF {version} ORDER BY id")
        assert sql(recipient, f"SELECT * FROM orders VERSION AS OF {version} ORDER BY id") == theirs
    by_path = sql(recipient, f"SELECT id FROM delta_sharing.`{profile}#partners.sales.orders` ORDER BY id")
    assert [r["id"] for r in by_path] == [1, 3]


def test_table_changes_match_the_providers(pair):
    provider, recipient, _ = pair
    query = "SELECT id, _change_type, _commit_version, _commit_timestamp FROM table_changes('{}', 1, 4) " \
            "ORDER BY _commit_version, id, _change_type"
    theirs = sql(provider, query.format("sales.orders"))
    ours = sql(recipient, query.format("orders"))
    assert ours == theirs
    assert {r["_change_type"] for r in ours} == {"insert", "update_preimage", "update_postimage", "delete"}


def test_deletion_vectors_cross_over(pair):
    _, recipient, profile = pair
    sql(recipient, f"CREATE TABLE dv USING deltaSharing LOCATION '{profile}#partners.sales.dv'")
    assert [r["value"] for r in sql(recipient, "SELECT value FROM dv ORDER BY value")] == list(range(1, 9))
    # Shared without history: no time travel.
    status, body = recipient.sql_http("SELECT * FROM dv VERSION AS OF 0")
    assert status == 400 and "WITH HISTORY" in json.dumps(body)


def test_shared_tables_are_read_only_and_bad_locations_are_refused(pair):
    _, recipient, profile = pair
    for statement in ["INSERT INTO orders VALUES (9, 'eu', 1.0)", "DELETE FROM orders", "OPTIMIZE orders",
                      "ALTER TABLE orders SET TBLPROPERTIES ('a' = 'b')"]:
        status, body = recipient.sql_http(statement)
        assert status == 400 and "read-only" in json.dumps(body), (statement, body)
    for location, message in [
        (f"{profile}#partners.sales.nope", "does not exist"),
        (f"{profile}#partners.sales", "not a shared table location"),
        ("/nonexistent.share#a.b.c", "cannot read the profile file"),
    ]:
        status, body = recipient.sql_http(f"CREATE TABLE bad USING deltaSharing LOCATION '{location}'")
        assert status == 400 and message in json.dumps(body), (location, body)


def test_dropping_the_recipient_cuts_access(tmp_path):
    provider = TarnServer(tmp_path / "p", pg=False, flight=False)
    recipient = TarnServer(tmp_path / "r", pg=False, flight=False, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    try:
        for statement in ["CREATE TABLE t AS SELECT 1 AS x", "CREATE SHARE s", "ALTER SHARE s ADD TABLE t AS x.t",
                          "CREATE RECIPIENT r", "GRANT SELECT ON SHARE s TO RECIPIENT r"]:
            sql(provider, statement)
        link = sql(provider, "ALTER RECIPIENT r ROTATE TOKEN")[0]["activation_link"]
        profile = tmp_path / "r.share"
        with urllib.request.urlopen(link, timeout=30) as resp:
            profile.write_bytes(resp.read())
        sql(recipient, f"CREATE TABLE t USING deltaSharing LOCATION '{profile}#s.x.t'")
        assert sql(recipient, "SELECT x FROM t") == [{"x": 1}]
        sql(provider, "REVOKE SELECT ON SHARE s FROM RECIPIENT r")
        status, body = recipient.sql_http("SELECT x FROM t")
        # A share no longer granted answers as one that does not exist (its name is not told).
        assert status == 400 and "RESOURCE_DOES_NOT_EXIST" in json.dumps(body), body
        sql(provider, "DROP RECIPIENT r")
        status, body = recipient.sql_http("SELECT x FROM t")
        assert status == 400 and "UNAUTHENTICATED" in json.dumps(body), body
    finally:
        provider.stop()
        recipient.stop()


def test_sharing_statements_over_the_postgres_protocol(tmp_path):
    """SHOW SHARES / SHOW RECIPIENTS are Tarn's, not Postgres settings, over the wire too."""
    server = TarnServer(tmp_path / "wh", flight=False)
    try:
        with server.psycopg() as conn:
            cur = conn.cursor()
            cur.execute("CREATE SHARE s COMMENT 'c'")
            cur.execute("CREATE RECIPIENT r")
            assert "/delta-sharing/activation/" in cur.fetchone()[1]
            cur.execute("SHOW SHARES")
            assert [row[:2] for row in cur.fetchall()] == [("s", "c")]
            cur.execute("SHOW RECIPIENTS")
            assert [row[0] for row in cur.fetchall()] == ["r"]
            cur.execute("SHOW ALL IN SHARE s")
            assert cur.fetchall() == []
            cur.execute("ALTER RECIPIENT r ROTATE TOKEN EXPIRE EXISTING IN 10 MINUTES")
            name, link, _ = cur.fetchone()
            assert name == "r" and link.startswith(server.addr["http"] + "/delta-sharing/activation/")
            cur.execute("SHOW ALL")
            assert len(cur.fetchall()) > 10, "SHOW ALL is still Postgres' settings"
    finally:
        server.stop()
