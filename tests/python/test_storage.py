"""Storage under concurrency and crashes, on local disk and on a real S3-compatible server:
8 processes x 100 appends all commit, concurrent transfers keep a bank's total at every
version, a store that ignores conditional writes is refused, `kill -9` at random points never
loses or half-applies a commit, and damaged logs or data files give errors that name the file."""

import json
import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from s3_server import S3Server
from tarn_server import TARN, TarnServer


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


class Backend:
    def __init__(self, name, warehouse, env, files):
        self.name, self.warehouse, self.env, self.files = name, warehouse, env, files

    def run(self, *args, check=True, timeout=600, env=None):
        out = subprocess.run([TARN, "--warehouse", self.warehouse, *args], capture_output=True, text=True,
                             timeout=timeout, env={**os.environ, **self.env, **(env or {})})
        if check:
            assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
        return out

    def popen(self, *args, **kwargs):
        return subprocess.Popen([TARN, "--warehouse", self.warehouse, *args], env={**os.environ, **self.env},
                                **kwargs)

    def rows(self, sql):
        out = self.run("sql", "--format", "json", "-e", sql)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def one(self, sql):
        (row,) = self.rows(sql)
        (value,) = row.values()
        return value


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path):
    if request.param == "local":
        wh = tmp_path / "wh"
        return Backend("local", str(wh), {}, wh)
    s3 = request.getfixturevalue("s3")
    url = s3.warehouse()
    return Backend("s3", url, s3.env(cache_dir=tmp_path / "cache"), s3.local_path(url))


def table_dir(backend, table):
    (path,) = [p for p in (backend.files / "main" / "default").iterdir() if p.name.startswith(table + "-")]
    return path


def test_eight_writers_times_one_hundred_appends_all_commit(backend, tmp_path):
    backend.run("sql", "-e", "CREATE TABLE events (writer INT, seq INT)")
    scripts = []
    for w in range(8):
        script = tmp_path / f"writer{w}.sql"
        script.write_text("".join(f"INSERT INTO events VALUES ({w}, {i});\n" for i in range(100)))
        scripts.append(script)
    start = time.monotonic()
    procs = [backend.popen("sql", "-f", str(s), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in scripts]
    results = [p.communicate(timeout=900) + (p.returncode,) for p in procs]
    elapsed = time.monotonic() - start
    for out, err, code in results:
        assert code == 0, err[-2000:]
    print(f"{backend.name}: 800 commits by 8 writers in {elapsed:.1f} s ({800 / elapsed:.0f} commits/s)")
    assert backend.one("SELECT count(*) FROM events") == 800
    assert backend.one("SELECT count(DISTINCT writer * 1000 + seq) FROM events") == 800
    history = backend.rows("DESCRIBE HISTORY events")
    assert len(history) == 801 and history[0]["version"] == 800
    assert sum(1 for h in history if h["operation"] == "WRITE") == 800
    # Checkpoints were written along the way: every delta.checkpointInterval (100) commits,
    # counting version 0 as the first.
    log = table_dir(backend, "events") / "_delta_log"
    checkpoints = sorted(int(p.name.split(".")[0]) for p in log.glob("*.checkpoint.parquet"))
    assert checkpoints == [99, 199, 299, 399, 499, 599, 699, 799], checkpoints
    assert json.loads((log / "_last_checkpoint").read_text())["version"] == 799


def test_concurrent_transfers_keep_the_total_at_every_version(backend):
    accounts = 12
    backend.run("sql", "-e", "CREATE TABLE accounts (id INT, branch INT, balance BIGINT) PARTITIONED BY (branch); "
                f"INSERT INTO accounts SELECT id, id % 3, 1000 FROM range(0, {accounts}) AS r(id)")
    total = 1000 * accounts

    def transfers(worker):
        rng = random.Random(worker)
        outcomes = []
        for n in range(12):
            a, b = rng.sample(range(accounts), 2)
            amount = rng.randint(1, 200)
            if n % 2:
                sql = (f"MERGE INTO accounts USING (SELECT * FROM VALUES ({a}, {-amount}), ({b}, {amount}) AS v(id, delta)) s "
                       f"ON accounts.id = s.id WHEN MATCHED THEN UPDATE SET balance = accounts.balance + s.delta")
            else:
                sql = (f"UPDATE accounts SET balance = balance + CASE WHEN id = {a} THEN {-amount} ELSE {amount} END "
                       f"WHERE id IN ({a}, {b})")
            # A transfer that conflicts with a concurrent one is run again on the new snapshot.
            out = backend.run("sql", "-e", sql, check=False)
            assert out.returncode == 0, out.stderr
            outcomes.append(out.returncode == 0)
        return outcomes

    with ThreadPoolExecutor(4) as pool:
        outcomes = [o for w in pool.map(transfers, range(4)) for o in w]
    committed = sum(outcomes)
    assert committed == len(outcomes) == 48
    latest = backend.rows("DESCRIBE HISTORY accounts LIMIT 1")[0]["version"]
    assert latest == 1 + committed, (latest, committed)
    checks = "; ".join(f"SELECT {v} AS v, sum(balance) AS total, count(*) AS n FROM accounts VERSION AS OF {v}"
                       for v in range(1, latest + 1))
    out = backend.run("sql", "--format", "json", "-e", checks)
    per_version = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(per_version) == latest
    for row in per_version:
        assert row["total"] == total and row["n"] == accounts, row
    print(f"{backend.name}: {committed} concurrent transfers committed; the total is the same at all {latest} versions")


def test_a_store_that_ignores_conditional_writes_is_refused(tmp_path):
    unsafe = S3Server(tmp_path / "unsafe", "--no-conditional-writes")
    try:
        out = subprocess.run([TARN, "--warehouse", unsafe.warehouse(), "sql", "-e", "SELECT 1"], capture_output=True,
                             text=True, env={**os.environ, **unsafe.env()}, timeout=120)
        assert out.returncode != 0
        assert "refusing the warehouse" in out.stderr and "If-None-Match" in out.stderr, out.stderr
        written = [p for p in (tmp_path / "unsafe").rglob("*") if p.is_file() and not p.name.startswith(".")]
        assert written == [], "nothing was written (the probe object is deleted again)"
    finally:
        unsafe.stop()


def test_tarn_serve_on_an_s3_warehouse(s3, tmp_path):
    wh = s3.warehouse("served")
    server = TarnServer(wh, http=False, flight=False, env=s3.env(cache_dir=tmp_path / "cache"))
    try:
        with server.psycopg() as conn:
            conn.execute("CREATE TABLE t (id INT, v TEXT)")
            conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
            conn.execute("UPDATE t SET v = 'B' WHERE id = 2")
            assert conn.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "B")]
            assert conn.execute("SELECT count(*) FROM t VERSION AS OF 1").fetchone() == (2,)
        # Another process sees the server's commits on the same bucket.
        b = Backend("s3", wh, s3.env(cache_dir=tmp_path / "cache2"), None)
        assert b.one("SELECT v FROM t WHERE id = 2") == "B"
    finally:
        server.stop()


def test_python_deltalake_reads_and_writes_a_table_on_s3(s3, tmp_path):
    import deltalake
    import pyarrow as pa
    b = Backend("s3", s3.warehouse(), s3.env(cache_dir=tmp_path / "cache"), None)
    # An external table in another bucket than the warehouse's.
    location = f"s3://tarn-other/ext-{os.getpid()}/t"
    b.run("sql", "-e", f"CREATE TABLE t (id INT, name STRING) LOCATION '{location}'; INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    options = {"AWS_ENDPOINT_URL": s3.endpoint, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "tarn-test",
               "AWS_SECRET_ACCESS_KEY": "tarn-test-secret", "AWS_REGION": "us-east-1",
               "AWS_CONDITIONAL_PUT": "etag"}
    table = deltalake.DeltaTable(location, storage_options=options)
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2]
    deltalake.write_deltalake(table, pa.table({"id": pa.array([3], pa.int32()), "name": ["c"]}), mode="append",
                              storage_options=options)
    assert b.one("SELECT sum(id) FROM t") == 6
    assert b.one(f"SELECT count(*) FROM delta.`{location}`") == 3


def test_kill_9_at_random_points_never_loses_or_half_applies_a_commit(tmp_path):
    """A writer killed at random moments of INSERT, MERGE, OPTIMIZE, VACUUM and catalog changes,
    hundreds of times: the table always opens, every version holds whole batches only (each
    batch's rows inserted and updated together), every statement that reported success is in
    the latest version, and VACUUM then reclaims the orphans of the killed writes."""
    import deltalake
    b = Backend("local", str(tmp_path / "wh"), {}, tmp_path / "wh")
    b.run("sql", "-e", "CREATE TABLE k (batch INT, row INT, x INT)")
    rng = random.Random(5)
    size = lambda batch: batch % 5 + 1  # noqa: E731
    committed_batches, killed, completed = set(), 0, 0
    side_tables = 0
    for i in range(1, 301):
        kind = rng.choice(["insert"] * 4 + ["merge", "merge", "optimize", "vacuum", "catalog"])
        if kind == "insert":
            sql = f"INSERT INTO k SELECT {i}, r, 0 FROM range(0, {size(i)}) AS t(r)"
        elif kind == "merge":
            sql = (f"MERGE INTO k USING (SELECT DISTINCT batch FROM k WHERE batch % 3 = {i % 3}) s "
                   "ON k.batch = s.batch WHEN MATCHED THEN UPDATE SET x = k.x + 1")
        elif kind == "optimize":
            sql = "OPTIMIZE k"
        elif kind == "vacuum":
            sql = "VACUUM k"
        else:
            side_tables += 1
            sql = (f"CREATE TABLE side{side_tables} (a INT); INSERT INTO side{side_tables} VALUES (1); "
                   f"DROP TABLE IF EXISTS side{side_tables - 1}")
        proc = b.popen("sql", "-e", sql, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, err = proc.communicate(timeout=rng.uniform(0.0, 0.15))
            assert proc.returncode == 0, (sql, err)
            completed += 1
            if kind == "insert":
                committed_batches.add(i)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            killed += 1
    print(f"{killed} writers killed with SIGKILL, {completed} completed")
    assert killed >= 100 and completed >= 50, (killed, completed)

    latest = b.rows("DESCRIBE HISTORY k LIMIT 1")[0]["version"]
    checks = "; ".join(f"SELECT {v} AS v, batch, count(*) AS n, min(x) AS lo, max(x) AS hi "
                       f"FROM k VERSION AS OF {v} GROUP BY batch" for v in range(latest + 1))
    out = b.run("sql", "--format", "json", "-e", checks)
    present = {}
    for line in out.stdout.splitlines():
        row = json.loads(line)
        assert row["n"] == size(row["batch"]), f"version {row['v']} has part of batch {row['batch']}: {row}"
        assert row["lo"] == row["hi"], f"version {row['v']} has batch {row['batch']} half updated: {row}"
        present.setdefault(row["v"], set()).add(row["batch"])
    final = present.get(latest, set())
    assert committed_batches <= final, f"committed and lost: {sorted(committed_batches - final)}"

    # The catalog survived: every listed table opens.
    for table in b.rows("SHOW TABLES"):
        name = table.get("tableName") or table.get("table_name") or list(table.values())[1]
        b.run("sql", "-e", f"SELECT count(*) FROM {name}")

    # Orphans of killed writes are reclaimed by VACUUM (below the retention period on request).
    b.run("sql", "-e", "SET spark.databricks.delta.retentionDurationCheck.enabled = false; VACUUM k RETAIN 0 HOURS")
    directory = table_dir(b, "k")
    on_disk = {str(p.relative_to(directory)) for p in directory.rglob("*.parquet") if "_delta_log" not in p.parts}
    live = {Path(uri).name for uri in deltalake.DeltaTable(str(directory)).file_uris()}
    assert {Path(p).name for p in on_disk} == live, "only files of the current version remain"
    assert b.one("SELECT count(*) FROM k") == sum(size(x) for x in final)


def test_checkpoints_and_log_retention_keep_a_long_history_small_and_readable(tmp_path):
    b = Backend("local", str(tmp_path / "wh"), {}, tmp_path / "wh")
    b.run("sql", "-e", "CREATE TABLE r (i INT) TBLPROPERTIES ('delta.checkpointInterval' = '5', "
          "'delta.logRetentionDuration' = 'interval 0 seconds')")
    for i in range(12):
        b.run("sql", "-e", f"INSERT INTO r VALUES ({i})")
    log = table_dir(b, "r") / "_delta_log"
    assert json.loads((log / "_last_checkpoint").read_text())["version"] == 9
    commits = sorted(int(p.name.split(".")[0]) for p in log.glob("*.json"))
    # Cleaned up after each checkpoint, up to the newest one (Delta keeps the checkpoint's commit).
    assert commits[0] == 9, f"expired commit files were cleaned up at the checkpoints: {commits}"
    assert sorted(p.name for p in log.glob("*.checkpoint.parquet")) == [f"{9:020}.checkpoint.parquet"]
    assert b.one("SELECT count(*) FROM r") == 12
    out = b.run("sql", "-e", "SELECT * FROM r VERSION AS OF 1", check=False)
    assert out.returncode != 0 and "no longer available" in out.stderr, out.stderr


def test_damaged_logs_and_missing_files_give_errors_that_name_the_file(tmp_path):
    b = Backend("local", str(tmp_path / "wh"), {}, tmp_path / "wh")
    b.run("sql", "-e", "CREATE TABLE d (i INT); INSERT INTO d VALUES (1); INSERT INTO d VALUES (2)")
    directory = table_dir(b, "d")
    commit = directory / "_delta_log" / "00000000000000000002.json"
    original = commit.read_bytes()

    commit.write_bytes(original[: len(original) // 2])  # truncated mid-line
    out = b.run("sql", "-e", "SELECT * FROM d", check=False)
    assert out.returncode != 0
    assert "00000000000000000002.json" in out.stderr and "not valid JSON" in out.stderr, out.stderr

    commit.unlink()  # a gap in the log
    (directory / "_delta_log" / "00000000000000000003.json").write_bytes(original)
    out = b.run("sql", "-e", "SELECT * FROM d", check=False)
    assert out.returncode != 0 and "00000000000000000002.json is missing" in out.stderr, out.stderr
    (directory / "_delta_log" / "00000000000000000003.json").rename(commit)
    assert b.one("SELECT sum(i) FROM d") == 3

    # An object-store error while reading (injected into the process) fails the query, never a
    # short answer.
    out = b.run("sql", "-e", "SELECT sum(i) FROM d", check=False, env={"TARN_FAULTS": "get@.parquet error nth=2"})
    assert out.returncode != 0 and "injected error" in out.stderr, out.stderr
    out = b.run("sql", "-e", "SELECT count(*) FROM d", check=False, env={"TARN_FAULTS": "get@.parquet latency=30ms"})
    assert out.returncode == 0 and "2" in out.stdout, out.stderr

    data = sorted(directory.glob("*.parquet"))[0]
    data.unlink()
    out = b.run("sql", "-e", "SELECT * FROM d", check=False)
    assert out.returncode != 0 and data.name in out.stderr, out.stderr
