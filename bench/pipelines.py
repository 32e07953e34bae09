#!/usr/bin/env python3
"""Streaming and pipeline benchmark: prints figures (and writes JSON), asserts nothing.

1. Commit-to-subscriber latency: a client commits small INSERTs to `tarn serve` over HTTP
   while another follows the table's changes (`GET /api/v1/tables/t/changes`, NDJSON); the
   time from each commit's acknowledgement until its row arrives, p50/p99, local disk.
2. Streaming-table throughput: rows/s of an incremental update that ingests new JSON files
   into a bronze table and streams them on into a silver table (`tarn pipeline run`).
3. Materialized view, incremental vs full: a GROUP BY with sum/count/min/max over a source of
   `--rows` rows (default 10 million); after appending 1 %, the incremental refresh and a full
   recompute of the same view, timed from the pipeline's event log.

Usage: TARN_BIN=target/release/tarn python3 bench/pipelines.py [--rows N] [--json out.json]
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from tarn_server import TARN, TarnServer  # noqa: E402


def tarn(wh, *args):
    out = subprocess.run([TARN, "--warehouse", str(wh), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"tarn {' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def scalar(wh, sql):
    (line,) = [l for l in tarn(wh, "sql", "--format", "json", "-e", sql).splitlines() if l.strip()]
    return next(iter(json.loads(line).values()))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency(root, commits):
    srv = TarnServer(root / "latency-wh", pg=False, flight=False)
    try:
        status, body = srv.sql_http("CREATE TABLE feed (id INT, sent DOUBLE)")
        assert status == 200, body
        url = urllib.parse.urlsplit(srv.addr["http"])
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        conn.request("GET", "/api/v1/tables/feed/changes?poll_ms=10",
                     headers={"Authorization": f"Bearer {srv.secret}"})
        resp = conn.getresponse()
        assert resp.status == 200
        arrived = {}

        def read():
            for line in resp:
                if line.strip():
                    arrived[json.loads(line)["id"]] = time.perf_counter()

        threading.Thread(target=read, daemon=True).start()
        acked = {}
        for i in range(commits):
            status, body = srv.sql_http(f"INSERT INTO feed VALUES ({i}, 0)")
            assert status == 200, body
            acked[i] = time.perf_counter()
            time.sleep(0.02)
        deadline = time.monotonic() + 30
        while len(arrived) < commits and time.monotonic() < deadline:
            time.sleep(0.05)
        conn.sock.shutdown(socket.SHUT_RDWR)
        ms = [max(0.0, arrived[i] - acked[i]) * 1000 for i in range(commits) if i in arrived]
        return {"commits": commits, "received": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
                "mean_ms": statistics.mean(ms)}
    finally:
        srv.stop()


def event(wh, log, dataset):
    sql = (f"SELECT duration_ms, rows_out, refresh FROM {log} WHERE dataset = '{dataset}' AND status = 'completed' "
           f"ORDER BY timestamp DESC LIMIT 1")
    (line,) = [l for l in tarn(wh, "sql", "--format", "json", "-e", sql).splitlines() if l.strip()]
    return json.loads(line)


def streaming(root, files, rows_per_file):
    pipe, wh = root / "stream-pipe", root / "stream-wh"
    (pipe / "in").mkdir(parents=True)
    (pipe / "p.sql").write_text(
        "CREATE OR REFRESH STREAMING TABLE bronze AS SELECT * FROM STREAM read_files('in/', format => 'json');\n"
        "CREATE OR REFRESH STREAMING TABLE silver (CONSTRAINT ok EXPECT (amount > 0) ON VIOLATION DROP ROW)\n"
        "  AS SELECT id, amount * 2 AS amount2, amount, ts FROM STREAM(bronze);\n")

    def land(batch):
        for f in range(files):
            lines = [json.dumps({"id": batch * 10**9 + f * 10**6 + i, "amount": (i % 997) + 0.5,
                                 "ts": "2024-03-01 10:00:00"}) + "\n" for i in range(rows_per_file)]
            (pipe / "in" / f"b{batch}-{f}.json").write_text("".join(lines))

    land(0)
    tarn(wh, "pipeline", "run", str(pipe))  # first update creates the tables
    land(1)
    start = time.perf_counter()
    tarn(wh, "pipeline", "run", str(pipe))
    wall = time.perf_counter() - start
    new = files * rows_per_file
    bronze, silver = event(wh, "stream_pipe_event_log", "bronze"), event(wh, "stream_pipe_event_log", "silver")
    assert bronze["refresh"] == "incremental" and bronze["rows_out"] == new, bronze
    return {"new_rows": new, "files": files,
            "bronze_rows_per_s": new / (bronze["duration_ms"] / 1000),
            "silver_rows_per_s": new / (silver["duration_ms"] / 1000),
            "update_wall_s": wall}


def materialized(root, rows):
    pipe, wh = root / "mv-pipe", root / "mv-wh"
    pipe.mkdir()
    t0 = time.perf_counter()
    tarn(wh, "sql", "-e", f"CREATE TABLE src AS SELECT value % 10000 AS k, value AS v FROM range({rows})")
    load_s = time.perf_counter() - t0
    (pipe / "gold.sql").write_text(
        "CREATE OR REFRESH MATERIALIZED VIEW gold AS\n"
        "  SELECT k, sum(v) AS total, count(*) AS n, min(v) AS lo, max(v) AS hi FROM src WHERE v % 7 <> 3 GROUP BY k;\n")
    tarn(wh, "pipeline", "run", str(pipe))
    first = event(wh, "mv_pipe_event_log", "gold")
    extra = rows // 100
    tarn(wh, "sql", "-e", f"INSERT INTO src SELECT value % 10000 AS k, value AS v FROM range({rows}, {rows + extra})")
    tarn(wh, "pipeline", "run", str(pipe))
    incremental = event(wh, "mv_pipe_event_log", "gold")
    assert incremental["refresh"] == "incremental", incremental
    after_incremental = tarn(wh, "sql", "--format", "csv", "-e", "SELECT * FROM gold ORDER BY k")
    tarn(wh, "pipeline", "run", str(pipe), "--full-refresh", "gold")
    full = event(wh, "mv_pipe_event_log", "gold")
    assert full["refresh"] == "full", full
    after_full = tarn(wh, "sql", "--format", "csv", "-e", "SELECT * FROM gold ORDER BY k")
    assert after_incremental == after_full, "incremental and full refresh disagree"
    return {"source_rows": rows + extra, "new_rows": extra, "load_s": load_s,
            "first_refresh_ms": first["duration_ms"], "incremental_ms": incremental["duration_ms"],
            "full_ms": full["duration_ms"], "speedup": full["duration_ms"] / max(1, incremental["duration_ms"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="materialized-view source rows")
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows-per-file", type=int, default=25_000)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tarn-bench-"))
    try:
        print(f"tarn: {TARN}   machine: {os.cpu_count()} cores")
        lat = latency(root, args.commits)
        print(f"commit -> subscriber latency ({lat['received']}/{lat['commits']} commits, HTTP NDJSON, poll 10 ms): "
              f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, mean {lat['mean_ms']:.1f} ms")
        st = streaming(root, args.files, args.rows_per_file)
        print(f"streaming update, {st['new_rows']:,} new rows in {st['files']} JSON files: "
              f"bronze {st['bronze_rows_per_s']:,.0f} rows/s, silver {st['silver_rows_per_s']:,.0f} rows/s "
              f"(whole update incl. process start {st['update_wall_s']:.2f} s)")
        mv = materialized(root, args.rows)
        print(f"materialized view over {mv['source_rows']:,} rows, {mv['new_rows']:,} new (1 %): "
              f"incremental {mv['incremental_ms']} ms vs full {mv['full_ms']} ms -> {mv['speedup']:.1f}x "
              f"(first refresh {mv['first_refresh_ms']} ms; loading the source took {mv['load_s']:.1f} s)")
        if args.json:
            Path(args.json).write_text(json.dumps({"latency": lat, "streaming": st, "materialized_view": mv}, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
