"""`tarn serve` under load and failure: 50 concurrent clients on all three protocols mixing
reads and writes (every write commits exactly once or fails with a conflict error, nothing
deadlocks, memory stays bounded), a memory limit that makes queries spill or fail clearly
without killing the server, and clients that vanish mid-result freeing what their query held."""

import os
import random
import socket
import threading
import time
import urllib.request

import adbc_driver_manager
import psycopg
import pytest

from pg_wire import Wire, cstr
from tarn_server import TarnServer

LOAD_SECONDS = float(os.environ.get("TARN_LOAD_SECONDS", "20"))
CLIENTS = 50


class Outcome:
    """What one client saw; merged at the end."""

    def __init__(self):
        self.inserted = []
        self.updates = {}
        self.conflicts = 0
        self.reads = 0
        self.unexpected = []


def pg_client(server):
    conn = server.psycopg()

    def run(sql):
        try:
            cur = conn.execute(sql)
            return "ok", cur.fetchall() if sql.startswith("SELECT") else None
        except psycopg.errors.SerializationFailure as e:
            return "conflict", str(e)
        except psycopg.Error as e:
            return "error", f"{type(e).__name__}: {e}"

    return run, conn.close


def http_client(server):
    def run(sql):
        status, body = server.sql_http(sql)
        if status == 200:
            return "ok", [tuple(r.values()) for r in body["rows"]] if sql.startswith("SELECT") else None
        if status == 409 and "conflict" in body["error"]["message"]:
            return "conflict", body
        return "error", f"{status}: {body}"

    return run, lambda: None


def flight_client(server):
    conn = server.flight()

    def run(sql):
        cur = conn.cursor()
        try:
            cur.execute(sql)
            rows = cur.fetchall() if sql.startswith("SELECT") else None
            return "ok", rows
        except adbc_driver_manager.Error as e:
            if "conflict with a concurrent commit" in str(e):
                return "conflict", str(e)
            return "error", f"{type(e).__name__}: {e}"
        finally:
            cur.close()

    return run, conn.close


def worker(server, index, deadline, outcome):
    make = pg_client if index < 30 else http_client if index < 40 else flight_client
    run, close = make(server)
    rng = random.Random(index)
    seq = 0
    seen_count = 0
    try:
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.5:
                seq += 1
                status, detail = run(f"INSERT INTO events VALUES ({index}, {seq})")
                if status == "ok":
                    outcome.inserted.append((index, seq))
            elif roll < 0.85:
                status, detail = run("SELECT count(*) FROM events")
                if status == "ok":
                    outcome.reads += 1
                    count = detail[0][0]
                    # Each statement sees a snapshot at least as new as the previous one.
                    if count < seen_count:
                        outcome.unexpected.append(f"count went back from {seen_count} to {count}")
                    seen_count = count
            else:
                counter = index % 4
                status, detail = run(f"UPDATE counters SET n = n + 1 WHERE id = {counter}")
                if status == "ok":
                    outcome.updates[counter] = outcome.updates.get(counter, 0) + 1
            if status == "conflict":
                outcome.conflicts += 1
            elif status == "error":
                outcome.unexpected.append(detail)
    except Exception as e:  # a crash of the client loop is a finding, not a hang
        outcome.unexpected.append(f"client {index} crashed: {e!r}")
    finally:
        close()


def test_fifty_clients_mixing_reads_and_writes(tmp_path):
    srv = TarnServer(tmp_path / "wh", "--memory-limit", "512MiB")
    try:
        with srv.psycopg() as conn:
            conn.execute("CREATE TABLE events (client INT, seq INT)")
            conn.execute("CREATE TABLE counters (id INT, n BIGINT)")
            conn.execute("INSERT INTO counters VALUES (0, 0), (1, 0), (2, 0), (3, 0)")
        outcomes = [Outcome() for _ in range(CLIENTS)]
        deadline = time.monotonic() + LOAD_SECONDS
        threads = [threading.Thread(target=worker, args=(srv, i, deadline, outcomes[i]), daemon=True)
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=LOAD_SECONDS + 240)
        assert not any(t.is_alive() for t in threads), "a client is stuck: deadlock or a statement that never ends"

        unexpected = [u for o in outcomes for u in o.unexpected]
        assert unexpected == [], unexpected[:5]
        inserted = sorted(r for o in outcomes for r in o.inserted)
        conflicts = sum(o.conflicts for o in outcomes)
        updates = {}
        for o in outcomes:
            for k, v in o.updates.items():
                updates[k] = updates.get(k, 0) + v
        with srv.psycopg() as conn:
            rows = sorted(conn.execute("SELECT client, seq FROM events").fetchall())
            counters = dict(conn.execute("SELECT id, n FROM counters").fetchall())
        # Exactly the acknowledged inserts: none lost, none twice.
        assert rows == inserted
        # Every acknowledged UPDATE counted once, no lost update.
        assert counters == {k: updates.get(k, 0) for k in range(4)}
        reads = sum(o.reads for o in outcomes)
        peak = srv.peak_rss_mib()
        print(f"\n{CLIENTS} clients for {LOAD_SECONDS:.0f} s: {len(inserted)} inserts, {sum(updates.values())} updates, "
              f"{reads} reads committed/answered, {conflicts} conflicts; server peak RSS {peak:.0f} MiB")
        assert len(inserted) > 0 and reads > 0
        assert peak < 2048, f"server peak RSS {peak:.0f} MiB"
        # Still serving.
        assert srv.sql_http("SELECT 1 AS one")[0] == 200
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    base = tmp_path_factory.mktemp("limited")
    # Without auth, so the hand-rolled wire client below can connect.
    srv = TarnServer(base / "wh", "--memory-limit", "48MiB", "--spill-dir", str(base / "spill"), "--insecure-no-auth")
    yield srv
    srv.stop()


def wait_for(predicate, what, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def idle(srv):
    m = srv.metrics()
    return m["tarn_result_streams_open"] == 0 and m["tarn_memory_reserved_bytes"] == 0


SORTED = ("SELECT max(abs(rn - (10000001 - x))) AS misplaced, count(*) AS n FROM "
          "(SELECT x, row_number() OVER (ORDER BY x DESC) AS rn FROM generate_series(1, 10000000) AS t(x))")


def test_a_sort_over_the_limit_spills_and_answers(limited):
    with limited.psycopg() as conn:
        # 10 million rows sorted (80 MB of keys alone) under a 48 MiB limit: it spills...
        plan = "\n".join(r[1] for r in conn.execute("EXPLAIN ANALYZE " + SORTED).fetchall())
        spills = [int(s.split("=")[1].rstrip(",")) for s in plan.split() if s.startswith("spill_count=")]
        assert spills and max(spills) > 0, plan
        # ... and every row lands in its place.
        assert conn.execute(SORTED).fetchall() == [(0, 10000000)]
    assert limited.metrics()["tarn_memory_limit_bytes"] == 48 * 1024 * 1024
    wait_for(lambda: idle(limited), "memory to be released")


def test_a_query_that_cannot_spill_fails_clearly_and_the_server_lives_on(limited):
    with limited.psycopg() as conn:
        with pytest.raises(psycopg.errors.OutOfMemory, match="(?s)out of memory.*--memory-limit"):
            conn.execute("SELECT array_agg(x) FROM generate_series(1, 30000000) AS t(x)").fetchall()
        assert conn.execute("SELECT 1").fetchone() == (1,)
    status, body = limited.sql_http("SELECT array_agg(x) FROM generate_series(1, 30000000) AS t(x)")
    assert status == 503 and "out of memory" in body["error"]["message"]
    wait_for(lambda: idle(limited), "memory to be released")
    assert limited.proc.poll() is None


BIG = "SELECT x, count(*) AS c FROM generate_series(1, 3000000) AS t(x) GROUP BY x"


def test_clients_that_vanish_mid_result_free_their_resources(limited):
    # Postgres: read the first row, stop reading (the server blocks on a full socket, holding
    # its hash table), then cut the connection without a Terminate message.
    wire = Wire(limited.pg_port)
    wire.startup()
    wire.send(b"Q", cstr(BIG))
    while wire.message()[0] != b"D":
        pass
    held = limited.metrics()
    assert held["tarn_result_streams_open"] == 1 and held["tarn_memory_reserved_bytes"] > 0, held
    wire.sock.shutdown(socket.SHUT_RDWR)
    wire.sock.close()
    wait_for(lambda: idle(limited), "the Postgres stream to be dropped")

    # HTTP: read a little of a streamed JSON result, then hang up.
    req = urllib.request.Request(limited.addr["http"] + "/api/v1/statements", method="POST",
                                 data=('{"statement": "%s"}' % BIG).encode())
    req.add_header("Authorization", f"Bearer {limited.secret}")
    resp = urllib.request.urlopen(req, timeout=60)
    assert resp.read(1024)
    assert limited.metrics()["tarn_result_streams_open"] >= 1
    resp.close()
    wait_for(lambda: idle(limited), "the HTTP stream to be dropped")

    # Flight SQL: take the first batch of a DoGet, then cancel the stream.
    conn = limited.flight()
    cur = conn.cursor()
    cur.execute(BIG)
    reader = cur.fetch_record_batch()
    next(iter(reader))
    assert limited.metrics()["tarn_result_streams_open"] >= 1
    cur.close()
    conn.close()
    wait_for(lambda: idle(limited), "the Flight stream to be dropped")
