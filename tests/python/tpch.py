"""TPC-H helpers shared by the correctness test (test_tpch.py) and the benchmark (bench/tpch.py):
the query texts in ../shared/tpch/queries, the stored SF0.01 answers, and answer comparison
with a relative tolerance (1e-6) as ../shared/tpch/answers-sf0.01/README.txt asks."""

import csv
import datetime
import decimal
import io
import math
import os
import subprocess
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "tpch"
QUERIES = SHARED / "queries"
ANSWERS_SF001 = SHARED / "answers-sf0.01"
TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]
Q11_FRACTION = "0.0001000000 /* __TPCH_Q11_FRACTION__ */"


def query(n, sf):
    """Query n's text at scale factor sf (Q11's FRACTION is 0.0001 / SF, per the spec)."""
    text = (QUERIES / f"q{n:02d}.sql").read_text()
    return text.replace(Q11_FRACTION, repr(0.0001 / sf))


def generate(tarn_bin, warehouse, parquet, sf, env=None):
    """Parquet files + Delta tables for TPC-H at sf, through `tarn bench tpch-data`."""
    out = subprocess.run([tarn_bin, "--warehouse", str(warehouse), "bench", "tpch-data", "--sf", str(sf),
                          "--parquet", str(parquet)], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(f"tarn bench tpch-data failed:\n{out.stderr[-4000:]}")
    return out.stderr


def value(v):
    """One cell, normalised across engines: numbers as float, dates as ISO text, text stripped."""
    if v is None:
        return None
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float, decimal.Decimal)):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    text = str(v).strip()
    try:
        return float(text)
    except ValueError:
        return text


def rows(records):
    return [tuple(value(v) for v in r) for r in records]


def parse_csv(text, delimiter=","):
    """Rows of CSV output with a header line (Tarn's --format csv, the stored answers)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None) or []
    # A one-column NULL row is an empty line, which csv reads as no fields.
    return [tuple(value(v) if v != "" else None for v in (r or [""] * len(header))) for r in reader]


def stored_answer(n):
    return parse_csv((ANSWERS_SF001 / f"q{n:02d}.csv").read_text(), delimiter="|")


def _close(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    if a is None or b is None:
        return a is b or (a == "" or b == "")
    return a == b


def differences(expected, actual):
    """'' when the answers agree (in order), else a short description of the first difference."""
    if len(expected) != len(actual):
        return f"{len(actual)} rows, expected {len(expected)}"
    for i, (e, a) in enumerate(zip(expected, actual)):
        if len(e) != len(a):
            return f"row {i}: {len(a)} columns, expected {len(e)}"
        for j, (x, y) in enumerate(zip(e, a)):
            if not _close(x, y):
                return f"row {i} column {j}: {y!r}, expected {x!r}"
    return ""
