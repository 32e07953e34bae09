"""What BI and transformation tools do over the Postgres wire protocol, with their real drivers:
pgjdbc (the driver under DBeaver, DataGrip and Metabase: their schema browsers are its
DatabaseMetaData calls) and dbt with the dbt-postgres adapter (seeds, table models rebuilt in
place, data tests)."""

import decimal
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tarn_server import TarnServer

REPO = Path(__file__).resolve().parents[2]
JDBC_JAR = os.environ.get("TARN_JDBC_JAR", "/usr/share/java/postgresql.jar")
DBT = os.environ.get("TARN_DBT") or shutil.which("dbt")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = TarnServer(tmp_path_factory.mktemp("bi") / "wh", http=False, flight=False)
    with srv.psycopg() as conn:
        conn.execute("CREATE SCHEMA sales")
        conn.execute("CREATE TABLE sales.orders (order_id BIGINT NOT NULL, customer STRING, "
                     "amount DECIMAL(10,2), placed DATE, shipped BOOLEAN) COMMENT 'orders'")
        conn.execute("INSERT INTO sales.orders VALUES (1, 'ada', 12.50, DATE '2024-01-03', true), "
                     "(2, 'bob', 7.25, DATE '2024-01-04', false), (3, 'cy', 30.00, DATE '2024-01-05', true)")
    yield srv
    srv.stop()


def run_jdbc_probe(server, tmp_path):
    assert os.path.exists(JDBC_JAR), "scripts/test.sh installs pgjdbc (Debian libpostgresql-jdbc-java)"
    subprocess.run(["javac", "-cp", JDBC_JAR, "-d", str(tmp_path), str(REPO / "tests/java/JdbcProbe.java")],
                   check=True, timeout=120)
    url = f"jdbc:postgresql://127.0.0.1:{server.pg_port}/main"
    out = subprocess.run(["java", "-cp", f"{JDBC_JAR}:{tmp_path}", "JdbcProbe", url, "admin", server.secret],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout
    found = {}
    for line in out.stdout.splitlines():
        key, *values = line.split("\t")
        found.setdefault(key, []).append(values)
    return found


def test_pgjdbc_metadata_prepared_statements_and_types(server, tmp_path):
    found = run_jdbc_probe(server, tmp_path)
    [[product, version]] = found["product"]
    assert product == "PostgreSQL" and version.startswith("16.6")
    assert "main" in found["catalogs"][0][0].split(",")
    schemas = found["schemas"][0][0].split(",")
    assert "sales" in schemas and "default" in schemas
    assert "TABLE" in found["table_types"][0][0].split(",")
    assert found["tables"] == [["sales.orders:TABLE"]]
    # java.sql.Types: BIGINT -5, VARCHAR 12, NUMERIC 2, DATE 91, BIT -7.
    assert found["column"] == [
        ["order_id", "int8", "-5", "NO", "1"],
        ["customer", "text", "12", "YES", "2"],
        ["amount", "numeric", "2", "YES", "3"],
        ["placed", "date", "91", "YES", "4"],
        ["shipped", "bool", "-7", "YES", "5"],
    ]
    # Delta tables have no primary or foreign keys or indexes: empty answers, not errors.
    assert found["primary_keys"] == [["0"]] and found["imported_keys"] == [["0"]] and found["indexes"] == [["0"]]
    assert found["type_info"] == [["ok"]]
    # The prepared query ran three times (server-side prepared from the first), same answer.
    assert found["result_types"] == [["int8,text,numeric,date,bool"]] * 3
    assert found["row"] == [["2", "bob", "7.25", "2024-01-04", "false"], ["3", "cy", "30.00", "2024-01-05", "true"]] * 3
    assert found["inserted"] == [["1"]]
    assert found["error"] == [["42P01"]]
    assert found["count"] == [["4"]]


DBT_PROFILE = """
tarn:
  target: dev
  outputs:
    dev:
      type: postgres
      host: 127.0.0.1
      port: {port}
      user: admin
      password: "{password}"
      dbname: main
      schema: analytics
      threads: 2
"""


def dbt(project, *args):
    out = subprocess.run([DBT, *args, "--project-dir", str(project), "--profiles-dir", str(project)],
                         capture_output=True, text=True, timeout=600, cwd=project)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    return out.stdout


def test_dbt_seeds_builds_and_tests_models(server, tmp_path):
    assert DBT, "scripts/test.sh installs dbt-postgres in its own venv and sets TARN_DBT"
    project = tmp_path / "shop"
    shutil.copytree(REPO / "tests/dbt", project)
    (project / "profiles.yml").write_text(DBT_PROFILE.format(port=server.pg_port, password=server.secret))
    dbt(project, "debug")
    dbt(project, "seed")
    out = dbt(project, "run")
    assert "Completed successfully" in out
    # A second run rebuilds every model in place (create new, rename old away, rename, drop).
    dbt(project, "run")
    out = dbt(project, "test")
    assert "PASS=4" in out, out
    with server.psycopg() as conn:
        rows = conn.execute("SELECT customer, orders, revenue FROM analytics.customer_revenue ORDER BY customer").fetchall()
        assert rows == [("ada", 1, decimal.Decimal("12.50")), ("bob", 2, decimal.Decimal("10.00")),
                        ("cy", 1, decimal.Decimal("30.00"))]
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics' "
                              "ORDER BY table_name").fetchall()
        # No temporary or backup relations are left behind.
        assert tables == [("customer_revenue",), ("raw_orders",), ("stg_orders",)]
