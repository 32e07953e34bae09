"""Clustering: a selective two-column range query before and after OPTIMIZE ZORDER BY (a, b).

    TARN_BIN=.../release/tarn python bench/zorder.py [--rows 50000000] [--file-size 32MiB] [--json out.json]

Builds a table of `--rows` rows whose `a` and `b` are spread evenly over every file (so the
log's min/max statistics cannot skip anything), runs `SELECT count(*), sum(v) ... WHERE a and b
in a 5 % x 5 % box`, clusters it with `OPTIMIZE ... ZORDER BY (a, b)`, and runs the query again.
Prints files read (EXPLAIN's `delta_files` row) and the best of three times, before and after;
checks the answer is unchanged.
"""

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import sys
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from tarn_server import TARN  # noqa: E402

QUERY = ("SELECT count(*) AS n, sum(v) AS s FROM z "
         "WHERE a BETWEEN 100000 AND 150000 AND b BETWEEN 700000 AND 750000")


def tarn(wh, *args):
    out = subprocess.run([TARN, "--warehouse", wh, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"tarn {' '.join(args)[:200]} failed:\n{out.stderr[-3000:]}")
    return out


def files_read(wh):
    plan = tarn(wh, "sql", "--format", "csv", "-e", "EXPLAIN " + QUERY).stdout
    m = re.search(r"main\.default\.z: (\d+) of (\d+) files read", plan)
    return int(m.group(1)), int(m.group(2))


def timed(wh):
    best, answer = None, None
    for _ in range(3):
        start = time.perf_counter()
        answer = tarn(wh, "sql", "--format", "csv", "-e", QUERY).stdout
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best, answer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--file-size", default="32MiB", help="delta.targetFileSize of the table")
    parser.add_argument("--json")
    args = parser.parse_args()
    size = args.file_size.upper().replace("IB", "").replace("B", "")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    target = int(float(size[:-1]) * units[size[-1]]) if size[-1] in units else int(size)
    with tempfile.TemporaryDirectory() as wh:
        start = time.perf_counter()
        # a and b: multiplicative hashes of id, uniform over [0, 1000000) and independent.
        tarn(wh, "sql", "-e",
             f"CREATE TABLE z TBLPROPERTIES ('delta.targetFileSize' = '{target}') AS "
             f"SELECT id, (id * 7919) % 1000003 AS a, (id * 104729) % 999983 AS b, CAST(id AS DOUBLE) * 0.5 AS v "
             f"FROM range(0, {args.rows}) AS r(id)")
        load = time.perf_counter() - start
        before_files = files_read(wh)
        before_time, before_answer = timed(wh)
        start = time.perf_counter()
        tarn(wh, "sql", "-e", "OPTIMIZE z ZORDER BY (a, b)")
        optimize = time.perf_counter() - start
        after_files = files_read(wh)
        after_time, after_answer = timed(wh)
    assert before_answer == after_answer, (before_answer, after_answer)
    print(f"{args.rows:,} rows, target file size {args.file_size}; load {load:.1f} s, OPTIMIZE ZORDER BY (a, b) {optimize:.1f} s")
    print(f"query: {QUERY}")
    print(f"before clustering: {before_files[0]} of {before_files[1]} files read, {before_time:.3f} s")
    print(f"after clustering:  {after_files[0]} of {after_files[1]} files read, {after_time:.3f} s "
          f"({before_time / after_time:.1f}x faster)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "rows": args.rows, "load_s": load, "optimize_s": optimize,
            "before": {"files_read": before_files[0], "files": before_files[1], "time_s": before_time},
            "after": {"files_read": after_files[0], "files": after_files[1], "time_s": after_time},
        }, indent=2))


if __name__ == "__main__":
    main()
