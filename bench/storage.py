"""Storage benchmark: commit throughput with 1 and 8 writers (local disk and the S3 test
server), time to open a table with many commits (cold process vs warm in-process snapshot),
and a multi-file scan on S3 cold vs warm (disk cache, then CACHE TABLE).

    TARN_BIN=.../tarn python bench/storage.py [--commits 10000] [--json out.json]

The S3 server is `tests/s3-server` (built next to the tarn binary by `cargo test --workspace`).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from s3_server import S3Server  # noqa: E402
from tarn_server import TARN  # noqa: E402


def tarn(wh, env, *args, timeout=3600):
    out = subprocess.run([TARN, "--warehouse", wh, *args], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **env})
    if out.returncode != 0:
        raise SystemExit(f"tarn {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out


def timings(stderr):
    return [float(t) for t in re.findall(r"rows?, ([0-9.]+)s\)", stderr)]


def commits_per_second(wh, env, writers, per_writer, scratch):
    tarn(wh, env, "sql", "-e", "CREATE TABLE c (w INT, i INT)")
    scripts = []
    for w in range(writers):
        path = Path(scratch) / f"w{writers}-{w}.sql"
        path.write_text("".join(f"INSERT INTO c VALUES ({w}, {i});\n" for i in range(per_writer)))
        scripts.append(path)
    start = time.monotonic()
    procs = [subprocess.Popen([TARN, "--warehouse", wh, "sql", "-f", str(p)], env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for p in scripts]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(err[-3000:])
    elapsed = time.monotonic() - start
    return writers * per_writer / elapsed


def open_times(wh, env, commits, scratch):
    tarn(wh, env, "sql", "-e", "CREATE TABLE h (i INT)")
    script = Path(scratch) / "many.sql"
    script.write_text("".join(f"INSERT INTO h VALUES ({i});\n" for i in range(commits)))
    tarn(wh, env, "sql", "-f", str(script))
    # Cold: a new process opens the table (checkpoint + the commits after it); minus start-up.
    base = min(timings(tarn(wh, env, "sql", "--timing", "-e", "SELECT 1").stderr) or [0.0])
    cold = []
    for _ in range(3):
        start = time.monotonic()
        tarn(wh, env, "sql", "-e", "SELECT count(*) FROM h")
        cold.append(time.monotonic() - start)
    start = time.monotonic()
    tarn(wh, env, "sql", "-e", "SELECT 1")
    startup = time.monotonic() - start
    # Warm: the same process again (the snapshot cache brings it up to date).
    warm = timings(tarn(wh, env, "sql", "--timing", "-e", "; ".join(["SELECT count(*) FROM h"] * 6)).stderr)
    return min(cold) - startup, min(warm[1:]), base


def scan_times(wh, env, cache_dir, files, rows):
    tarn(wh, env, "sql", "-e", "CREATE TABLE s (id BIGINT, k BIGINT, v DOUBLE)")
    for f in range(files):
        tarn(wh, env, "sql", "-e", f"INSERT INTO s SELECT id, id % 1000, id * 0.5 FROM range({f * rows}, {(f + 1) * rows}) AS r(id)")
    query = "SELECT k % 10 AS g, sum(v), count(*) FROM s GROUP BY g ORDER BY g"
    import shutil
    shutil.rmtree(cache_dir, ignore_errors=True)
    cold = timings(tarn(wh, env, "sql", "--timing", "-e", query).stderr)[0]
    disk = timings(tarn(wh, env, "sql", "--timing", "-e", query).stderr)[0]
    cached = timings(tarn(wh, env, "sql", "--timing", "-e", f"CACHE TABLE s; {query}; {query}; {query}").stderr)
    return cold, disk, min(cached[2:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=10000)
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--rows", type=int, default=250000)
    parser.add_argument("--json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        s3 = S3Server(Path(scratch) / "s3")
        try:
            backends = {
                "local": (str(Path(scratch) / "local"), {}),
                "s3": (s3.warehouse(), s3.env(cache_dir=Path(scratch) / "cache")),
            }
            for name, (wh, env) in backends.items():
                one = commits_per_second(wh + "/one" if name == "s3" else wh + "-one", env, 1, 200, scratch)
                eight = commits_per_second(wh + "/eight" if name == "s3" else wh + "-eight", env, 8, 50, scratch)
                results[f"{name} commits/s, 1 writer"] = round(one, 1)
                results[f"{name} commits/s, 8 writers"] = round(eight, 1)
                print(f"{name:5}: {one:7.1f} commits/s with 1 writer, {eight:7.1f} with 8 writers", flush=True)
            wh, env = backends["local"]
            cold, warm, base = open_times(wh + "-history", env, args.commits, scratch)
            results[f"open {args.commits}-commit table, cold (s)"] = round(cold, 3)
            results[f"open {args.commits}-commit table, warm (s)"] = round(warm, 4)
            print(f"open a {args.commits}-commit table (local): cold {cold * 1000:.0f} ms (new process, start-up "
                  f"subtracted), warm {warm * 1000:.1f} ms (same process, snapshot cache)", flush=True)
            wh, env = backends["s3"]
            cold, disk, cached = scan_times(wh + "/scan", env, Path(scratch) / "cache", args.files, args.rows)
            results.update({"s3 scan cold (s)": cold, "s3 scan warm, disk cache (s)": disk,
                            "s3 scan warm, CACHE TABLE (s)": cached})
            print(f"scan {args.files} files x {args.rows} rows on S3: cold {cold:.3f} s, disk cache {disk:.3f} s "
                  f"({cold / disk:.1f}x), CACHE TABLE {cached:.3f} s ({cold / cached:.1f}x)", flush=True)
        finally:
            s3.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
