"""TPC-H: Tarn vs DuckDB and Polars, in one run, on the same data.

    TARN_BIN=.../release/tarn python bench/tpch.py --sf 1 [--engines tarn,tarn-server,duckdb,polars]
        [--runs 3] [--queries 1-22] [--memory-limit 4GiB] [--data ~/.cache/tarn-tpch] [--json out.json]

`tarn bench tpch-data` generates the data in process (tpchgen) as plain Parquet (what DuckDB and
Polars read) and loads it into a Tarn warehouse as Delta tables through SQL. Then each query runs
`--runs` times per engine:
  tarn         `tarn sql -f qNN.sql` — a new process each time: start-up, catalog, Delta log and all;
  tarn-server  the same SQL over the Postgres wire protocol to one `tarn serve` (psycopg);
  duckdb       DuckDB views over the Parquet files (duckdb Python package);
  polars       Polars SQLContext over scan_parquet (lazy, then collect).
Every engine's answer is checked against Tarn's CLI answer (and, at SF 0.01, against the stored
answers in ../shared/tpch). Times are the best of the runs; the table shows Tarn's ratio to each
peer (below 1 = Tarn faster). Peak memory: the largest RSS of a `tarn sql` process, and the
server's high-water mark.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
import tpch  # noqa: E402
from tarn_server import TARN, TarnServer  # noqa: E402


def parse_queries(spec):
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


class TarnCli:
    name = "tarn"

    def __init__(self, warehouse, scratch, memory_limit, settings):
        self.warehouse, self.scratch, self.memory_limit = warehouse, Path(scratch), memory_limit
        self.prelude = "".join(f"SET {k} = {v};\n" for k, v in settings)
        self.peak = 0.0

    def run(self, n, sql):
        script = self.scratch / f"q{n:02d}.sql"
        script.write_text(self.prelude + sql)
        args = [TARN, "--warehouse", str(self.warehouse), "sql", "--format", "csv", "-f", str(script)]
        if self.memory_limit:
            args[1:1] = ["--memory-limit", self.memory_limit]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(args, stdout=out, stderr=err, text=True)
            _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak RSS
            proc.returncode = os.waitstatus_to_exitcode(status)
            self.peak = max(self.peak, usage.ru_maxrss / 1024)
            out.seek(0)
            err.seek(0)
            if proc.returncode != 0:
                raise RuntimeError(err.read().strip()[-2000:])
            return tpch.parse_csv(out.read())

    def peak_mib(self):
        return self.peak

    def close(self):
        pass


class TarnPg:
    name = "tarn-server"

    def __init__(self, warehouse, memory_limit, settings):
        # Loopback only, and the warehouse may predate this server (its admin secret is printed
        # only at the first start), so no authentication.
        extra = ["--insecure-no-auth"] + (["--memory-limit", memory_limit] if memory_limit else [])
        self.server = TarnServer(warehouse, *extra, http=False, flight=False)
        try:
            self.conn = self.server.psycopg()
            for k, v in settings:
                self.conn.execute(f"SET {k} = {v}")
        except Exception:
            self.server.stop()
            raise

    def run(self, n, sql):
        return tpch.rows(self.conn.execute(sql).fetchall())

    def peak_mib(self):
        status = Path(f"/proc/{self.server.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def close(self):
        self.conn.close()
        self.server.stop()


class DuckDb:
    name = "duckdb"

    def __init__(self, parquet, memory_limit):
        import duckdb
        self.con = duckdb.connect()
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit.replace('iB', 'B')}'")
        for t in tpch.TABLES:
            self.con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{parquet}/{t}/*.parquet')")

    def run(self, n, sql):
        return tpch.rows(self.con.execute(sql).fetchall())

    def peak_mib(self):
        return None

    def close(self):
        self.con.close()


class Polars:
    name = "polars"

    def __init__(self, parquet):
        import polars as pl
        self.ctx = pl.SQLContext({t: pl.scan_parquet(f"{parquet}/{t}/*.parquet") for t in tpch.TABLES})

    def run(self, n, sql):
        return tpch.rows(self.ctx.execute(sql, eager=False).collect().rows())

    def peak_mib(self):
        return None

    def close(self):
        pass


def prepare(sf, data, memory_limit):
    root = Path(data).expanduser() / f"sf{sf:g}"
    parquet, warehouse = root / "parquet", root / "warehouse"
    loaded = root / "loaded"
    if not (loaded.exists() and tpch_complete(parquet, sf)):
        started = time.monotonic()
        print(f"generating and loading TPC-H SF {sf:g} into {root} ...", flush=True)
        env = {"TARN_MEMORY_LIMIT": memory_limit} if memory_limit else None
        print(tpch.generate(TARN, warehouse, parquet, sf, env).strip(), flush=True)
        loaded.write_text(f"{sf}\n")
        print(f"data ready in {time.monotonic() - started:.0f} s", flush=True)
    return parquet, warehouse


def tpch_complete(parquet, sf):
    marker = parquet / "_tpch_complete"
    return marker.exists() and float(marker.read_text().strip()) == sf


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--engines", default="tarn,tarn-server,duckdb,polars")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", default="1-22")
    parser.add_argument("--memory-limit", help="e.g. 4GiB: Tarn's --memory-limit and DuckDB's memory_limit")
    parser.add_argument("--data", default=os.environ.get("TARN_TPCH_DATA", "~/.cache/tarn-tpch"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a DataFusion option for Tarn's sessions (repeatable), e.g. "
                             "datafusion.execution.parquet.pushdown_filters=false")
    parser.add_argument("--json")
    args = parser.parse_args()
    settings = [tuple(s.split("=", 1)) for s in args.set]
    queries = parse_queries(args.queries)
    parquet, warehouse = prepare(args.sf, args.data, args.memory_limit)
    scratch = tempfile.mkdtemp(prefix="tarn-tpch-")
    makers = {
        "tarn": lambda: TarnCli(warehouse, scratch, args.memory_limit, settings),
        "tarn-server": lambda: TarnPg(warehouse, args.memory_limit, settings),
        "duckdb": lambda: DuckDb(parquet, args.memory_limit),
        "polars": lambda: Polars(parquet),
    }
    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in names if e not in makers]
    if unknown:
        raise SystemExit(f"unknown engine(s) {unknown}; choose from {list(makers)}")
    times = {e: {} for e in names}
    answers, problems, peaks = {}, [], {}
    for name in names:
        engine = makers[name]()
        try:
            for n in queries:
                sql = tpch.query(n, args.sf)
                best = None
                for _ in range(args.runs):
                    start = time.perf_counter()
                    try:
                        got = engine.run(n, sql)
                    except Exception as e:  # an engine failing one query is a result, not a crash
                        problems.append(f"{name} q{n:02d}: failed: {str(e).splitlines()[-1][:300]}")
                        best = None
                        break
                    elapsed = time.perf_counter() - start
                    best = elapsed if best is None else min(best, elapsed)
                times[name][n] = best
                if best is None:
                    continue
                reference = answers.setdefault(n, (name, got))
                diff = tpch.differences(reference[1], got)
                if diff:
                    problems.append(f"{name} q{n:02d}: differs from {reference[0]}: {diff}")
                if args.sf == 0.01:
                    diff = tpch.differences(tpch.stored_answer(n), got)
                    if diff:
                        problems.append(f"{name} q{n:02d}: differs from the stored answer: {diff}")
                print(f"  {name:11} q{n:02d} {best:8.3f} s", flush=True)
            peaks[name] = engine.peak_mib()
        finally:
            engine.close()
    report(args, names, queries, times, peaks, problems)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "sf": args.sf, "runs": args.runs, "memory_limit": args.memory_limit, "settings": args.set,
            "machine": machine(), "times_s": {e: {f"q{n:02d}": t for n, t in times[e].items()} for e in names},
            "peak_rss_mib": peaks, "problems": problems,
        }, indent=2))
    if problems:
        sys.exit(1)


def machine():
    cores = os.cpu_count()
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None)
    return f"{platform.machine()}, {cores} cores, {mem} MiB RAM, {platform.system()} {platform.release()}"


def report(args, names, queries, times, peaks, problems):
    peers = [e for e in names if not e.startswith("tarn")]
    tarn = "tarn" if "tarn" in names else next((e for e in names if e.startswith("tarn")), None)
    print(f"\nTPC-H SF {args.sf:g}, best of {args.runs}, {machine()}")
    header = f"{'query':6}" + "".join(f"{e:>13}" for e in names)
    if tarn:
        header += "".join(f"{tarn + '/' + p:>16}" for p in peers)
    print(header)

    def cell(t):
        return f"{t:13.3f}" if t is not None else f"{'failed':>13}"

    def ratio(a, b):
        return f"{a / b:16.2f}" if a is not None and b else f"{'-':>16}"

    for n in queries:
        line = f"q{n:02d}   " + "".join(cell(times[e].get(n)) for e in names)
        if tarn:
            line += "".join(ratio(times[tarn].get(n), times[p].get(n)) for p in peers)
        print(line)
    complete = [n for n in queries if all(times[e].get(n) is not None for e in names)]
    totals = {e: sum(times[e][n] for n in complete) for e in names}
    line = f"{'total':6}" + "".join(f"{totals[e]:13.3f}" for e in names)
    if tarn:
        line += "".join(ratio(totals[tarn], totals[p]) for p in peers)
    print(line + (f"   ({len(complete)} queries every engine ran)" if len(complete) < len(queries) else ""))
    for e in names:
        if peaks.get(e):
            print(f"peak memory {e}: {peaks[e]:.0f} MiB")
    for p in problems:
        print("PROBLEM:", p)


if __name__ == "__main__":
    main()
