"""Open format, both directions: Python deltalake and Polars read what Tarn writes (at every
version, same rows), and Tarn reads what deltalake writes."""

import json
import os
import subprocess
from datetime import date, datetime, timezone
from decimal import Decimal
from urllib.parse import urlparse, unquote

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder, write_deltalake

TARN = os.environ.get("TARN_BIN", "tarn")


def tarn(warehouse, sql, fmt="json"):
    out = subprocess.run(
        [TARN, "--warehouse", str(warehouse), "sql", "--format", fmt, "-e", sql],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def location(warehouse, table):
    [detail] = tarn(warehouse, f"DESCRIBE DETAIL {table}")
    return unquote(urlparse(detail["location"]).path)


def canon(rows):
    """Rows as sorted tuples of comparable values."""
    def norm(v):
        if isinstance(v, datetime):
            if v.tzinfo is None:
                v = v.replace(tzinfo=timezone.utc)
            return v.astimezone(timezone.utc).isoformat()
        if isinstance(v, Decimal):
            return str(v.normalize())
        if isinstance(v, date):
            return str(v)
        if isinstance(v, float):
            return round(v, 9)
        return v
    return sorted((tuple((k, repr(norm(r[k]))) for k in sorted(r)) for r in rows))


@pytest.fixture
def warehouse(tmp_path):
    return tmp_path / "wh"


def test_deltalake_and_polars_read_every_version_tarn_wrote(warehouse):
    tarn(warehouse, """
        CREATE TABLE t (id BIGINT NOT NULL, name STRING, score DOUBLE, price DECIMAL(10,2),
                        ok BOOLEAN, day DATE, at TIMESTAMP) PARTITIONED BY (day);
        INSERT INTO t VALUES
          (1, 'ada', 1.5, 10.25, true, DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00:00'),
          (2, 'grace', 2.5, 20.50, false, DATE '2024-01-02', TIMESTAMP '2024-01-02 11:30:00');
        UPDATE t SET score = score * 2 WHERE id = 2;
        DELETE FROM t WHERE id = 1;
        INSERT INTO t VALUES (3, NULL, NULL, NULL, NULL, DATE '2024-01-03', NULL);
    """)
    path = location(warehouse, "t")
    dt = DeltaTable(path)
    assert dt.version() == 4
    for version in range(0, 5):
        expected = tarn(warehouse, f"SELECT * FROM t VERSION AS OF {version}")
        dt.load_as_version(version)
        via_deltalake = dt.to_pyarrow_table().to_pylist()
        via_polars = pl.read_delta(path, version=version).to_dicts()
        # JSON from Tarn omits nulls; fill them so the shapes agree.
        columns = ["id", "name", "score", "price", "ok", "day", "at"]
        expected = [{c: r.get(c) for c in columns} for r in expected]
        for r in expected:
            if r["at"] is not None:
                r["at"] = datetime.fromisoformat(r["at"].replace("Z", "+00:00"))
            if r["day"] is not None:
                r["day"] = date.fromisoformat(r["day"])
            if r["price"] is not None:
                r["price"] = Decimal(str(r["price"]))
        assert canon(via_deltalake) == canon(expected), f"deltalake differs at v{version}"
        assert canon(via_polars) == canon(expected), f"polars differs at v{version}"


def test_collated_columns_are_plain_strings_to_other_readers(warehouse):
    # The collation lives in the field's `__COLLATIONS` metadata, as Delta's collations feature
    # stores it; readers that do not know collations read the strings unchanged.
    tarn(warehouse, "CREATE TABLE c (l STRING COLLATE UTF8_LCASE, b STRING); INSERT INTO c VALUES ('Aa', 'x')")
    path = location(warehouse, "c")
    dt = DeltaTable(path)
    fields = {f.name: f for f in dt.schema().fields}
    assert fields["l"].metadata == {"__COLLATIONS": {"l": "spark.UTF8_LCASE"}}
    assert fields["b"].metadata == {}
    assert dt.to_pyarrow_table().to_pylist() == [{"l": "Aa", "b": "x"}]
    assert pl.read_delta(path).to_dicts() == [{"l": "Aa", "b": "x"}]
    # Tarn reads it back with the collation.
    assert tarn(warehouse, "SELECT count(*) AS n FROM c WHERE l = 'aA'") == [{"n": 1}]


def test_tarn_reads_what_deltalake_wrote(tmp_path, warehouse):
    path = tmp_path / "from_python"
    first = pa.table({"id": pa.array([1, 2], pa.int64()), "tag": ["x", "y"]})
    write_deltalake(str(path), first)
    write_deltalake(str(path), pa.table({"id": pa.array([3], pa.int64()), "tag": ["z"]}), mode="append")
    dt = DeltaTable(str(path))
    dt.delete("id = 2")
    assert sorted(r["id"] for r in tarn(warehouse, f"SELECT id FROM delta.`{path}`")) == [1, 3]
    assert sorted(r["id"] for r in tarn(warehouse, f"SELECT id FROM delta.`{path}` VERSION AS OF 0")) == [1, 2]
    # Register it and write to it from Tarn; Python sees the new version.
    tarn(warehouse, f"CREATE TABLE ext LOCATION '{path}'; INSERT INTO ext VALUES (4, 'w')")
    assert sorted(DeltaTable(str(path)).to_pyarrow_table().column("id").to_pylist()) == [1, 3, 4]


def test_merge_clone_and_optimize_leave_valid_tables(warehouse):
    tarn(warehouse, """
        CREATE TABLE a (id INT, v STRING);
        INSERT INTO a VALUES (1, 'one'), (2, 'two');
        INSERT INTO a VALUES (3, 'three');
        MERGE INTO a USING (SELECT 2 AS id, 'TWO' AS v UNION ALL SELECT 4, 'four') s ON a.id = s.id
          WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;
        CREATE TABLE b SHALLOW CLONE a;
        CREATE TABLE c DEEP CLONE a VERSION AS OF 1;
        OPTIMIZE a ZORDER BY (id);
    """)
    a = DeltaTable(location(warehouse, "a")).to_pyarrow_table().sort_by("id").to_pylist()
    assert [r["v"] for r in a] == ["one", "TWO", "three", "four"]
    b = DeltaTable(location(warehouse, "b")).to_pyarrow_table().sort_by("id").to_pylist()
    assert b == a
    c = pl.read_delta(location(warehouse, "c")).sort("id").to_dicts()
    assert [r["id"] for r in c] == [1, 2]


def test_change_data_feed_both_directions(warehouse, tmp_path):
    # deltalake reads the change data feed Tarn records (on by default), operation by operation.
    tarn(warehouse, """
        CREATE TABLE feed (id INT, name STRING);
        INSERT INTO feed VALUES (1, 'a'), (2, 'b');
        UPDATE feed SET name = 'B' WHERE id = 2;
        DELETE FROM feed WHERE id = 1;
        MERGE INTO feed USING (SELECT 3 AS id, 'c' AS name) s ON feed.id = s.id
          WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *;
    """)
    dt = DeltaTable(location(warehouse, "feed"))
    assert dt.metadata().configuration.get("delta.enableChangeDataFeed") == "true"
    theirs = pa.table(dt.load_cdf(starting_version=0).read_all()).to_pylist()
    seen = sorted((r["_commit_version"], r["_change_type"], r["id"], r["name"]) for r in theirs)
    assert seen == [(1, "insert", 1, "a"), (1, "insert", 2, "b"), (2, "update_postimage", 2, "B"),
                    (2, "update_preimage", 2, "b"), (3, "delete", 1, "a"), (4, "insert", 3, "c")]
    ours = tarn(warehouse, "SELECT _commit_version, _change_type, id, name FROM table_changes('feed', 0)")
    assert sorted((r["_commit_version"], r["_change_type"], r["id"], r["name"]) for r in ours) == seen

    # Tarn reads the feed of a table deltalake wrote with the feed on.
    path = str(tmp_path / "theirs")
    write_deltalake(path, pa.table({"id": [1, 2], "v": ["x", "y"]}),
                    configuration={"delta.enableChangeDataFeed": "true"})
    DeltaTable(path).delete("id = 1")
    rows = tarn(warehouse, f"SELECT _commit_version, _change_type, id FROM table_changes('delta.`{path}`', 0)")
    assert sorted((r["_commit_version"], r["_change_type"], r["id"]) for r in rows) == [
        (0, "insert", 1), (0, "insert", 2), (1, "delete", 1)]


def test_renamed_and_dropped_columns_read_the_same_elsewhere(warehouse):
    """Column mapping: after RENAME COLUMN, DROP COLUMN and ADD COLUMNS (no file rewritten),
    delta-rs' own reader (deltalake's QueryBuilder) sees the new names and the same rows as
    Tarn. Polars 2.1 does not read column-mapped tables and says so (reader version 2)."""
    tarn(warehouse, """
        CREATE TABLE m (id INT, name STRING, score INT, day DATE) PARTITIONED BY (day);
        INSERT INTO m VALUES (1, 'ada', 10, DATE '2024-01-01'), (2, 'grace', 20, DATE '2024-01-02');
        ALTER TABLE m SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name');
        ALTER TABLE m RENAME COLUMN name TO full_name;
        ALTER TABLE m RENAME COLUMN day TO event_day;
        ALTER TABLE m DROP COLUMN score;
        ALTER TABLE m ADD COLUMNS (score INT);
        INSERT INTO m VALUES (3, 'alan', DATE '2024-01-01', 30);
    """)
    path = location(warehouse, "m")
    # Two files from the first INSERT (one per day), one from the last: the DDL rewrote none.
    assert len(list(__import__("pathlib").Path(path).rglob("*.parquet"))) == 3
    expected = tarn(warehouse, "SELECT id, full_name, event_day, coalesce(score, -1) AS score FROM m")
    assert sorted(r["score"] for r in expected) == [-1, -1, 30]  # the dropped values stay dropped
    dt = DeltaTable(path)
    assert dt.schema().to_arrow().names == ["id", "full_name", "event_day", "score"]
    rows = QueryBuilder().register("m", dt).execute(
        "SELECT id, full_name, event_day, coalesce(score, -1) AS score FROM m").read_all()
    rows = pa.table(rows).to_pylist()
    assert canon(rows) == canon(expected)
    with pytest.raises(Exception, match="column mapping"):
        pl.read_delta(path)


def test_generated_columns_both_directions(warehouse):
    """A generated column Tarn defines is Delta's (delta.generationExpression): deltalake reads
    it, and computes it when it appends rows without it; Tarn reads those rows."""
    tarn(warehouse, """
        CREATE TABLE g (id INT, price DOUBLE, with_tax DOUBLE GENERATED ALWAYS AS (price * 2));
        INSERT INTO g (id, price) VALUES (1, 10.0);
    """)
    path = location(warehouse, "g")
    dt = DeltaTable(path)
    field = next(f for f in dt.schema().fields if f.name == "with_tax")
    assert field.metadata.get("delta.generationExpression") == "price * 2"
    assert dt.to_pyarrow_table().to_pylist() == [{"id": 1, "price": 10.0, "with_tax": 20.0}]
    write_deltalake(path, pa.table({"id": pa.array([2], pa.int32()), "price": [3.5]}), mode="append")
    rows = tarn(warehouse, "SELECT id, with_tax FROM g ORDER BY id")
    assert rows == [{"id": 1, "with_tax": 20.0}, {"id": 2, "with_tax": 7.0}]
