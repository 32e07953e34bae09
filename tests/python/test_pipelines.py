"""Declarative pipelines through `tarn pipeline`: the README's orders example end to end with
generated landing files (bad records included), exactly-once streaming updates (re-runs, new
files, a writer killed mid-update), incremental and full materialized-view refreshes,
expectations (drop, fail, warn, quarantine), schema changes in new files, and clear errors for
bad definitions — each leaving every table at a committed, consistent version."""

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tarn_server import TARN

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "orders"


def tarn(wh, *args, check=True, timeout=300):
    out = subprocess.run([TARN, "--warehouse", str(wh), *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out


def rows(wh, sql):
    out = tarn(wh, "sql", "--format", "json", "-e", sql)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def one(wh, sql):
    (row,) = rows(wh, sql)
    (value,) = row.values()
    return value


def version(wh, table):
    return rows(wh, f"DESCRIBE HISTORY {table} LIMIT 1")[0]["version"]


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text("".join(lines))
    tmp.rename(path)


def order(i, amount=10.0, ts="2024-03-01 10:00:00", **extra):
    return json.dumps({"order_id": i, "amount": amount, "ts": ts, **extra}) + "\n"


@pytest.fixture
def example(tmp_path):
    """The README's example pipeline, copied so its landing folder is the test's own."""
    pipe = tmp_path / "orders"
    shutil.copytree(EXAMPLE, pipe, ignore=shutil.ignore_patterns("landing"))
    return pipe, tmp_path / "wh"


def generate(pipe, *args):
    subprocess.run([str(pipe / "generate.sh"), *args], check=True, capture_output=True, timeout=120)


def test_readme_example_runs_end_to_end_and_exactly_once(example):
    pipe, wh = example
    generate(pipe, "--files", "3", "--rows", "40")
    first = tarn(wh, "pipeline", "run", str(pipe))
    assert "bronze_orders" in first.stdout and "gold_daily" in first.stdout
    # 3 x 40 generated orders + 3 bad records in the first file.
    assert one(wh, "SELECT count(*) AS n FROM bronze_orders") == 123
    assert one(wh, "SELECT count(*) AS n FROM bronze_orders WHERE _rescued_data IS NOT NULL") == 1
    # The line that is not JSON and the order without an id are dropped; 2019 is kept.
    assert one(wh, "SELECT count(*) AS n FROM silver_orders") == 121
    assert one(wh, "SELECT count(*) AS n FROM silver_orders WHERE ts < '2020'") == 1
    expected = rows(wh, "SELECT date(ts) AS d, sum(amount) AS revenue FROM silver_orders GROUP BY 1 ORDER BY 1")
    assert rows(wh, "SELECT * FROM gold_daily ORDER BY d") == expected

    # A re-run without new files reads nothing and writes nothing.
    versions = {t: version(wh, t) for t in ("bronze_orders", "silver_orders", "gold_daily")}
    again = tarn(wh, "pipeline", "run", str(pipe))
    assert "no new input" in again.stdout and "up to date" in again.stdout
    assert {t: version(wh, t) for t in versions} == versions

    # New files: only they are read, the view refreshes incrementally.
    generate(pipe, "--files", "2", "--rows", "25")
    tarn(wh, "pipeline", "run", str(pipe))
    assert one(wh, "SELECT count(*) AS n FROM bronze_orders") == 123 + 53
    assert one(wh, "SELECT count(*) AS n FROM silver_orders") == 121 + 51
    expected = rows(wh, "SELECT date(ts) AS d, sum(amount) AS revenue FROM silver_orders GROUP BY 1 ORDER BY 1")
    got = rows(wh, "SELECT * FROM gold_daily ORDER BY d")
    assert [r["d"] for r in got] == [r["d"] for r in expected]
    assert all(abs(a["revenue"] - b["revenue"]) < 1e-6 for a, b in zip(got, expected))
    assert one(wh, "SELECT refresh FROM orders_event_log WHERE dataset = 'gold_daily' AND status = 'completed' "
                   "ORDER BY timestamp DESC LIMIT 1") == "incremental"

    # The event log is a table; status shows the updates with their expectation counts.
    counts = rows(wh, "SELECT expectation, sum(passed) AS passed, sum(failed) AS failed FROM orders_event_log "
                      "WHERE event_type = 'expectation' GROUP BY expectation ORDER BY expectation")
    assert counts == [{"expectation": "positive", "passed": 172, "failed": 0},
                      {"expectation": "recent", "passed": 170, "failed": 2},
                      {"expectation": "valid_id", "passed": 172, "failed": 4}]
    status = tarn(wh, "pipeline", "status", str(pipe)).stdout
    assert "silver_orders" in status and "valid_id" in status and "incremental" in status

    # Progress is in the tables' own commits: Delta txn actions any reader sees.
    from deltalake import DeltaTable
    location = rows(wh, "DESCRIBE DETAIL silver_orders")[0]["location"]
    log = Path(location.removeprefix("file://")) / "_delta_log"
    txns = [json.loads(line)["txn"] for f in sorted(log.glob("*.json")) for line in f.read_text().splitlines()
            if '"txn"' in line]
    assert {t["appId"] for t in txns} >= {"tarn.pipeline.update", "tarn.pipeline.source:main.default.bronze_orders"}
    assert len(DeltaTable(location).to_pyarrow_table()) == 172


def test_fail_update_commits_nothing_to_that_table(example):
    pipe, wh = example
    generate(pipe, "--rows", "5")
    tarn(wh, "pipeline", "run", str(pipe))
    silver, gold = version(wh, "silver_orders"), version(wh, "gold_daily")
    generate(pipe, "--rows", "5", "--negative")
    failed = tarn(wh, "pipeline", "run", str(pipe), check=False)
    assert failed.returncode != 0
    assert "expectation 'positive' failed" in failed.stderr and "nothing was written to silver_orders" in failed.stderr
    assert "amount=-5" in failed.stderr
    # Said once: not again as a log line, nor in the table on stdout.
    assert failed.stderr.count("expectation 'positive' failed") == 1, failed.stderr
    assert "expectation 'positive' failed" not in failed.stdout and "WARN" not in failed.stderr
    # bronze took the batch; silver and gold stayed exactly where they were.
    assert one(wh, "SELECT count(*) AS n FROM bronze_orders WHERE amount < 0") == 1
    assert (version(wh, "silver_orders"), version(wh, "gold_daily")) == (silver, gold)
    assert one(wh, "SELECT status FROM orders_event_log WHERE dataset = 'silver_orders' ORDER BY timestamp DESC LIMIT 1") == "failed"
    assert "did not update" in one(wh, "SELECT message FROM orders_event_log WHERE dataset = 'gold_daily' ORDER BY timestamp DESC LIMIT 1")
    # The fix: quarantine such rows instead. The same input is read again, once.
    sql = (pipe / "orders.sql").read_text().replace("ON VIOLATION FAIL UPDATE", "ON VIOLATION QUARANTINE")
    (pipe / "orders.sql").write_text(sql)
    tarn(wh, "pipeline", "run", str(pipe))
    assert one(wh, "SELECT count(*) AS n FROM silver_orders") == 5 + 1 + 5 + 1
    assert rows(wh, "SELECT order_id, amount, _rule FROM silver_orders_quarantine") == \
        [{"order_id": 8, "amount": -5.0, "_rule": "positive"}]
    tarn(wh, "pipeline", "run", str(pipe))
    assert one(wh, "SELECT count(*) AS n FROM silver_orders_quarantine") == 1


def test_schema_changes_in_new_files(tmp_path):
    pipe, wh = tmp_path / "p", tmp_path / "wh"
    pipe.mkdir()
    (pipe / "bronze.sql").write_text(
        "CREATE OR REFRESH STREAMING TABLE events AS SELECT * FROM STREAM read_files('in/', format => 'json')")
    write_lines(pipe / "in" / "1.json", [order(1), order(2)])
    tarn(wh, "pipeline", "run", str(pipe))
    # A new column: the table gains it, earlier rows read NULL.
    write_lines(pipe / "in" / "2.json", [order(3, channel="web")])
    tarn(wh, "pipeline", "run", str(pipe))
    got = rows(wh, "SELECT order_id, channel FROM events ORDER BY order_id")
    assert [(r["order_id"], r.get("channel")) for r in got] == [(1, None), (2, None), (3, "web")]
    # A column changing type cannot be stored: a clear error, the table unchanged.
    before = version(wh, "events")
    write_lines(pipe / "in" / "3.json", [order(4, amount="lots")])
    bad = tarn(wh, "pipeline", "run", str(pipe), check=False)
    assert bad.returncode != 0 and "amount" in bad.stderr and "string" in bad.stderr, bad.stderr
    assert version(wh, "events") == before
    # Malformed lines are rescued, not fatal.
    (pipe / "in" / "3.json").unlink()
    write_lines(pipe / "in" / "4.json", ['{"order_id": 5, "amount": 1.0, "ts": "2024-01-01"}\n', '{"order_id": 6,\n'])
    tarn(wh, "pipeline", "run", str(pipe))
    assert one(wh, "SELECT count(*) AS n FROM events WHERE _rescued_data LIKE '%order_id%6%'") == 1


def test_definition_errors_are_clear_and_change_nothing(tmp_path):
    wh = tmp_path / "wh"

    def pipeline(name, **files):
        d = tmp_path / name
        d.mkdir()
        for file, text in files.items():
            (d / file).write_text(text)
        return d

    syntax = pipeline("syntax", **{"a.sql": "CREATE OR REFRESH MATERIALIZED VIEW a AS SELECT 1 AS x;\n\n"
                                            "CREATE OR REFRESH MATERIALIZED VIEW b AS\n  SELECT x FROM a WHERE;"})
    out = tarn(wh, "pipeline", "run", str(syntax), check=False)
    assert out.returncode != 0 and "a.sql line 4" in out.stderr, out.stderr
    unknown = pipeline("unknown", **{"u.sql": "CREATE OR REFRESH MATERIALIZED VIEW u AS SELECT * FROM missing_table"})
    out = tarn(wh, "pipeline", "validate", str(unknown), check=False)
    assert out.returncode != 0 and "missing_table" in out.stderr and "neither a dataset" in out.stderr, out.stderr
    cycle = pipeline("cycle", **{"c.sql": "CREATE OR REFRESH MATERIALIZED VIEW a AS SELECT * FROM b;\n"
                                          "CREATE OR REFRESH MATERIALIZED VIEW b AS SELECT * FROM a;"})
    out = tarn(wh, "pipeline", "graph", str(cycle), check=False)
    assert out.returncode != 0 and "cycle" in out.stderr and "a reads b reads a" in out.stderr, out.stderr
    twice = pipeline("twice", **{"1.sql": "CREATE OR REFRESH MATERIALIZED VIEW a AS SELECT 1 AS x",
                                 "2.sql": "CREATE OR REFRESH MATERIALIZED VIEW a AS SELECT 2 AS x"})
    out = tarn(wh, "pipeline", "run", str(twice), check=False)
    assert out.returncode != 0 and "already defined at 1.sql line 1" in out.stderr, out.stderr
    nostream = pipeline("nostream", **{"s.sql": "CREATE OR REFRESH STREAMING TABLE s AS SELECT 1 AS x"})
    out = tarn(wh, "pipeline", "run", str(nostream), check=False)
    assert out.returncode != 0 and "reads no stream" in out.stderr, out.stderr
    missing = pipeline("missing", **{"m.sql": "CREATE OR REFRESH STREAMING TABLE m AS SELECT * FROM STREAM read_files('nowhere/', format => 'csv')"})
    out = tarn(wh, "pipeline", "run", str(missing), check=False)
    assert out.returncode != 0 and "nowhere" in out.stderr and "does not exist" in out.stderr, out.stderr
    # None of it created a table.
    assert not any(r["tableName"] in ("a", "b", "u", "s", "m") for r in rows(wh, "SHOW TABLES"))


def test_validate_and_graph_write_nothing(example):
    pipe, wh = example
    generate(pipe, "--rows", "3")
    out = tarn(wh, "pipeline", "validate", str(pipe))
    assert "gold_daily: d date, revenue double" in out.stdout
    assert rows(wh, "SHOW TABLES") == []
    text = tarn(wh, "pipeline", "graph", str(pipe)).stdout.splitlines()
    assert [line.split()[0] for line in text] == ["bronze_orders", "silver_orders", "gold_daily"]
    dot = tarn(wh, "pipeline", "graph", str(pipe), "--dot").stdout
    assert dot.startswith('digraph "orders"') and '"bronze_orders" -> "silver_orders" [style=bold' in dot
    assert '"silver_orders" -> "gold_daily";' in dot


def test_full_refresh_recomputes_without_duplicates_and_views_recompute_after_deletes(example):
    pipe, wh = example
    generate(pipe, "--files", "2", "--rows", "10")
    tarn(wh, "pipeline", "run", str(pipe))
    assert one(wh, "SELECT count(*) AS n FROM silver_orders") == 21
    out = tarn(wh, "pipeline", "run", str(pipe), "--full-refresh", "silver_orders")
    assert one(wh, "SELECT count(*) AS n FROM silver_orders") == 21
    assert one(wh, "SELECT count(*) AS n FROM bronze_orders") == 23  # not refreshed, not re-read
    tarn(wh, "pipeline", "run", str(pipe), "--full-refresh")
    assert one(wh, "SELECT count(*) AS n FROM bronze_orders") == 23
    bad = tarn(wh, "pipeline", "run", str(pipe), "--full-refresh", "silver_order", check=False)
    assert bad.returncode != 0 and "did you mean silver_orders" in bad.stderr
    # A DELETE upstream is not an append: the view is recomputed and says why.
    tarn(wh, "sql", "-e", "DELETE FROM silver_orders WHERE ts < '2020-01-01'")
    out = tarn(wh, "pipeline", "run", str(pipe))
    assert "full" in out.stdout and "DELETE" in out.stdout, out.stdout
    assert one(wh, "SELECT count(*) AS n FROM gold_daily WHERE d < DATE '2020-01-01'") == 0
    # ... and a streaming table reading that changed table says how to recover.
    (pipe / "more.sql").write_text("CREATE OR REFRESH STREAMING TABLE platinum AS SELECT * FROM STREAM(silver_orders)")
    tarn(wh, "pipeline", "run", str(pipe))
    tarn(wh, "sql", "-e", "UPDATE silver_orders SET amount = amount + 1 WHERE order_id = 7 OR amount > 0")
    out = tarn(wh, "pipeline", "run", str(pipe), check=False)
    assert out.returncode != 0 and "--full-refresh platinum" in out.stderr, out.stderr


def test_continuous_mode_follows_new_files(example):
    pipe, wh = example
    generate(pipe, "--rows", "4")
    proc = subprocess.Popen([TARN, "--warehouse", str(wh), "pipeline", "run", str(pipe), "--continuous", "--interval-ms", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def silver_count():
            out = tarn(wh, "sql", "--format", "json", "-e", "SELECT count(*) AS n FROM silver_orders", check=False)
            return json.loads(out.stdout)["n"] if out.returncode == 0 and out.stdout.strip() else -1

        deadline = time.monotonic() + 120
        while silver_count() != 5 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert silver_count() == 5
        generate(pipe, "--rows", "6")
        while silver_count() != 5 + 6 + 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert silver_count() == 12
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()


def test_writer_killed_mid_update_loses_and_duplicates_nothing(tmp_path):
    pipe, wh = tmp_path / "p", tmp_path / "wh"
    pipe.mkdir()
    (pipe / "p.sql").write_text(
        "CREATE OR REFRESH STREAMING TABLE raw AS SELECT * FROM STREAM read_files('in/', format => 'csv', header => 'true');\n"
        "CREATE OR REFRESH STREAMING TABLE clean AS SELECT id, v * 2 AS v2 FROM STREAM(raw) WHERE v >= 0;\n"
        "CREATE OR REFRESH MATERIALIZED VIEW total AS SELECT count(*) AS n, sum(v2) AS s FROM clean;")
    total = 0
    rng = random.Random(7)
    kills = 0
    for batch in range(10):
        for f in range(5):
            lines = ["id,v\n"] + [f"{batch * 100000 + f * 10000 + i},{i}\n" for i in range(2000)]
            write_lines(pipe / "in" / f"b{batch}-{f}.csv", lines)
            total += 2000
        proc = subprocess.Popen([TARN, "--warehouse", str(wh), "pipeline", "run", str(pipe)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.02, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        # Whatever was committed is whole.
        if any(r["tableName"] == "clean" for r in rows(wh, "SHOW TABLES")):
            raw_n = one(wh, "SELECT count(*) AS n FROM raw")
            assert raw_n % 2000 == 0 and raw_n <= total
    tarn(wh, "pipeline", "run", str(pipe))
    assert one(wh, "SELECT count(*) AS n FROM raw") == total
    assert one(wh, "SELECT count(DISTINCT id) AS n FROM raw") == total
    assert one(wh, "SELECT count(*) AS n FROM clean") == total
    assert rows(wh, "SELECT n, s FROM total") == [{"n": total, "s": 2 * 50 * sum(range(2000))}]
    print(f"killed {kills} of 10 updates mid-way")
    assert kills >= 3, "the test must interrupt updates to mean anything"
