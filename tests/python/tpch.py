"""TPC-H helpers shared by the correctness test (test_tpch.py) and the benchmark (bench/tpch.py):
the query texts in ../shared/tpch/queries, the stored SF0.01 answers, and answer comparison
with a relative tolerance (1e-6) as ../shared/tpch/answers-sf0.01/README.txt asks."""

import collections
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


def _key(row):
    """A row as a hashable value, floats rounded to the precision `_close` tolerates."""
    return tuple(float(f"{v:.6g}") if isinstance(v, float) else v for v in row)


def differences(expected, actual):
    """'' when the answers agree in order, else a short description of the first difference.

    Rows that tie on the ORDER BY keys may come in any order, so a stretch of rows that differs
    is accepted when it holds the same rows as the expected stretch (a local permutation) and
    those rows agree on at least one column (the tied key)."""
    if len(expected) != len(actual):
        return f"{len(actual)} rows, expected {len(expected)}"
    i = 0
    while i < len(expected):
        e, a = expected[i], actual[i]
        if len(e) != len(a):
            return f"row {i}: {len(a)} columns, expected {len(e)}"
        if all(_close(x, y) for x, y in zip(e, a)):
            i += 1
            continue
        # Find the shortest stretch from i whose rows are the same multiset in both answers.
        balance = collections.Counter()
        end = None
        for k in range(i, len(expected)):
            balance[_key(expected[k])] += 1
            balance[_key(actual[k])] -= 1
            if not any(balance.values()):
                end = k + 1
                break
        # Tied rows agree on the sort keys: some column must be the same all through the stretch.
        if end is not None and not any(
            all(_close(expected[i][c], expected[k][c]) for k in range(i, end)) for c in range(len(e))
        ):
            end = None
        if end is None:
            j = next(j for j, (x, y) in enumerate(zip(e, a)) if not _close(x, y))
            return f"row {i} column {j}: {a[j]!r}, expected {e[j]!r}"
        i = end
    return ""
