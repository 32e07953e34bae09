"""A table is a stream: subscribers follow a table's change data feed as commits land — `tarn
stream` (CLI), Flight `DoGet` (pyarrow.flight) and HTTP (NDJSON and Server-Sent Events) — and
a subscriber that restarts after the last version it saw gets every later change exactly once."""

import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pyarrow.flight as flight
import pytest

from tarn_server import TARN, TarnServer


def tarn_sql(warehouse, sql):
    out = subprocess.run([TARN, "--warehouse", str(warehouse), "sql", "-e", sql],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


class Lines:
    """Lines of a stream read by a background thread, with a timeout per line."""

    def __init__(self, stream):
        self.q = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        try:
            for line in stream:
                self.q.put(line)
        except (OSError, ValueError, AttributeError):
            pass  # the test closed the stream under the reader
        self.q.put(None)

    def take(self, n, timeout=60):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            line = self.q.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"the stream ended after {len(out)} of {n} lines")
            if isinstance(line, bytes):
                line = line.decode()
            if line.strip():
                out.append(line)
        return out


def key(row):
    return (row["_commit_version"], row["_change_type"], row["id"])


def test_tarn_stream_follows_commits_and_resumes_exactly_once(tmp_path):
    wh = tmp_path / "wh"
    tarn_sql(wh, "CREATE TABLE ev (id INT, v STRING); INSERT INTO ev VALUES (1, 'a')")
    proc = subprocess.Popen([TARN, "--warehouse", str(wh), "stream", "ev", "--from-version", "0"],
                            stdout=subprocess.PIPE, text=True)
    lines = Lines(proc.stdout)
    first = [json.loads(l) for l in lines.take(1)]
    assert [key(r) for r in first] == [(1, "insert", 1)]
    # Commits land while it follows: each arrives, a commit's rows together.
    tarn_sql(wh, "INSERT INTO ev VALUES (2, 'b'), (3, 'c')")
    tarn_sql(wh, "UPDATE ev SET v = 'B' WHERE id = 2")
    seen = first + [json.loads(l) for l in lines.take(4)]
    assert [key(r) for r in seen] == [(1, "insert", 1), (2, "insert", 2), (2, "insert", 3),
                                      (3, "update_preimage", 2), (3, "update_postimage", 2)] or \
        sorted(key(r) for r in seen) == [(1, "insert", 1), (2, "insert", 2), (2, "insert", 3),
                                         (3, "update_postimage", 2), (3, "update_preimage", 2)]
    assert seen[-1]["_commit_version"] == 3 and seen[-2]["_commit_version"] == 3
    # The subscriber dies; more commits land; it restarts after the last version it saw.
    proc.kill()
    proc.wait()
    last = max(r["_commit_version"] for r in seen)
    tarn_sql(wh, "DELETE FROM ev WHERE id = 1")
    tarn_sql(wh, "INSERT INTO ev VALUES (4, 'd')")
    proc = subprocess.Popen([TARN, "--warehouse", str(wh), "stream", "ev", "--after-version", str(last)],
                            stdout=subprocess.PIPE, text=True)
    try:
        more = [json.loads(l) for l in Lines(proc.stdout).take(2)]
        assert [key(r) for r in more] == [(4, "delete", 1), (5, "insert", 4)]
        # Together: every change once, none twice.
        both = [key(r) for r in seen + more]
        assert len(both) == len(set(both)) == 7
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, "SIGINT ends a subscription cleanly"


def test_tarn_stream_csv_and_errors(tmp_path):
    wh = tmp_path / "wh"
    tarn_sql(wh, "CREATE TABLE ev (id INT); INSERT INTO ev VALUES (7); "
                 "CREATE TABLE quiet (id INT) TBLPROPERTIES ('delta.enableChangeDataFeed' = 'false')")
    proc = subprocess.Popen([TARN, "--warehouse", str(wh), "stream", "ev", "--from-version", "0", "--format", "csv"],
                            stdout=subprocess.PIPE, text=True)
    try:
        header, row = Lines(proc.stdout).take(2)
        assert header.strip() == "id,_change_type,_commit_version,_commit_timestamp"
        assert row.startswith("7,insert,1,")
    finally:
        proc.kill()
        proc.wait()
    for args, message in [(["nope"], "not found"), (["quiet"], "does not record changes"),
                          (["ev", "--from-version", "9"], "after the latest version 1")]:
        out = subprocess.run([TARN, "--warehouse", str(wh), "stream", *args], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and message in out.stderr, (args, out.stderr)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = TarnServer(tmp_path_factory.mktemp("changes") / "wh", pg=False)
    status, body = srv.sql_http("CREATE TABLE feed (id INT, v STRING)")
    assert status == 200, body
    yield srv
    srv.stop()


def commit(server, sql):
    status, body = server.sql_http(sql)
    assert status == 200, body


def test_flight_do_get_stays_open_and_streams_commits(server):
    commit(server, "INSERT INTO feed VALUES (100, 'x')")
    client = flight.FlightClient(server.addr["flight"])
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {server.secret}".encode())])
    info = client.get_flight_info(flight.FlightDescriptor.for_path("changes", "main.default.feed", "from=1"), options)
    assert "_change_type" in info.schema.names and "_commit_version" in info.schema.names
    reader = client.do_get(info.endpoints[0].ticket, options)
    chunk = reader.read_chunk().data.to_pylist()
    assert [(r["_commit_version"], r["id"]) for r in chunk] == [(1, 100)]
    got = queue.Queue()

    def read_next():
        got.put(reader.read_chunk().data.to_pylist())

    threading.Thread(target=read_next, daemon=True).start()
    time.sleep(0.5)
    assert got.empty(), "nothing new: the stream waits"
    commit(server, "INSERT INTO feed VALUES (101, 'y')")
    rows = got.get(timeout=60)
    assert [(r["_commit_version"], r["_change_type"], r["id"]) for r in rows] == [(2, "insert", 101)]
    reader.cancel()
    # Without the table's privilege, no subscription.
    status, _ = server.sql_http("CREATE USER nobody WITH PASSWORD 'x'")
    assert status == 200
    token = subprocess.run([TARN, "--warehouse", str(server.warehouse), "token", "create", "--user", "nobody"],
                           capture_output=True, text=True, timeout=60).stdout.strip()
    denied = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    with pytest.raises(flight.FlightUnauthorizedError):
        client.get_flight_info(flight.FlightDescriptor.for_path("changes", "feed"), denied)
    req = urllib.request.Request(server.addr["http"] + "/api/v1/tables/feed/changes?from=0")
    req.add_header("Authorization", f"Bearer {token}")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 403


def open_changes(server, query, headers=()):
    """An open changes stream (http.client, so the test can hang up on it)."""
    url = urllib.parse.urlsplit(server.addr["http"])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.request("GET", "/api/v1/tables/main.default.feed/changes" + query,
                 headers={"Authorization": f"Bearer {server.secret}", **dict(headers)})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    resp.conn = conn
    return resp


def hang_up(resp):
    """Close a stream another thread is reading: shut the socket down first (closing the
    buffered reader alone would wait for that reader's lock)."""
    resp.conn.sock.shutdown(socket.SHUT_RDWR)
    resp.conn.close()


def test_http_ndjson_and_server_sent_events_resume(server):
    version = server.sql_http("SELECT max(_commit_version) AS v FROM table_changes('feed', 0)")[1]["rows"][0]["v"]
    resp = open_changes(server, f"?after={version}")
    assert resp.headers["Content-Type"] == "application/x-ndjson"
    lines = Lines(resp)
    commit(server, "INSERT INTO feed VALUES (200, 'p'), (201, 'q')")
    rows = [json.loads(l) for l in lines.take(2)]
    assert sorted(r["id"] for r in rows) == [200, 201] and {r["_commit_version"] for r in rows} == {version + 1}
    hang_up(resp)

    # Server-Sent Events: the event id is the commit version; reconnecting with
    # Last-Event-ID resumes after it.
    events = open_changes(server, f"?from={version + 1}", [("Accept", "text/event-stream")])
    assert events.headers["Content-Type"] == "text/event-stream"
    first = Lines(events).take(3)
    assert first[0] == f"id: {version + 1}\n" and first[1] == "event: change\n" and first[2].startswith("data: {")
    hang_up(events)
    commit(server, "DELETE FROM feed WHERE id = 200")
    resumed = open_changes(server, "", [("Accept", "text/event-stream"), ("Last-Event-ID", str(version + 1))])
    lines = Lines(resumed).take(3)
    assert lines[0] == f"id: {version + 2}\n"
    data = json.loads(lines[2][len("data: "):])
    assert (data["_change_type"], data["id"]) == ("delete", 200)
    hang_up(resumed)
