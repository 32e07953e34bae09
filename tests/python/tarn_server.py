"""A real `tarn serve` process for tests: started on free loopback ports, its addresses and the
admin secret read from what it prints, its standard error drained (and kept) in the background
so a chatty server never blocks on a full pipe."""

import json
import os
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.request

TARN = os.environ.get("TARN_BIN", "tarn")

MARKERS = {
    "pg": "Postgres wire protocol listening on ",
    "http": "HTTP API listening on ",
    "flight": "Flight SQL listening on ",
}


class TarnServer:
    @staticmethod
    def binary():
        return TARN

    def __init__(self, warehouse, *extra, pg=True, http=True, flight=True, env=None):
        wanted = {"pg": pg, "http": http, "flight": flight}
        args = [TARN, "--warehouse", str(warehouse), "serve"]
        for proto, on in wanted.items():
            args += [f"--{proto}-addr", "127.0.0.1:0" if on else "off"]
        self.warehouse = warehouse
        self.proc = subprocess.Popen(args + list(extra), stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.secret = None
        self.addr = {}
        self.log = []
        while len(self.addr) < sum(wanted.values()):
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError("the server exited before listening:\n" + "".join(self.log))
            self.log.append(line)
            if "shown only now): " in line:
                self.secret = line.strip().rsplit(" ", 1)[1]
            for proto, marker in MARKERS.items():
                if marker in line:
                    self.addr[proto] = line.strip().split(marker)[1]
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    @property
    def pg_port(self):
        return int(self.addr["pg"].rsplit(":", 1)[1])

    def dsn(self, user="admin", password=None, dbname="main", **extra):
        password = self.secret if password is None else password
        parts = [f"host=127.0.0.1 port={self.pg_port} dbname={dbname} user={user}"]
        if password:
            parts.append(f"password={password}")
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def psycopg(self, **kwargs):
        import psycopg
        return psycopg.connect(self.dsn(**kwargs), autocommit=True)

    def flight(self, token=None):
        import adbc_driver_flightsql as adbc_flight
        import adbc_driver_flightsql.dbapi as flight_sql
        header = adbc_flight.DatabaseOptions.AUTHORIZATION_HEADER.value
        return flight_sql.connect(self.addr["flight"], db_kwargs={header: f"Bearer {token or self.secret}"},
                                  autocommit=True)

    def http(self, path, body=None, token=None, accept=None, timeout=120):
        """(status, body bytes) of one request; JSON bodies are encoded."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.addr["http"] + path, data=data, method="POST" if data else "GET")
        req.add_header("Authorization", f"Bearer {token or self.secret}")
        if data:
            req.add_header("Content-Type", "application/json")
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def sql_http(self, statement, token=None):
        status, body = self.http("/api/v1/statements", {"statement": statement}, token=token)
        return status, json.loads(body) if body else None

    def metrics(self):
        """The Prometheus gauges and counters, name → value (histogram buckets left out)."""
        status, body = self.http("/metrics")
        assert status == 200, body
        out = {}
        for line in body.decode().splitlines():
            m = re.match(r"^([a-z_]+) ([0-9.e+-]+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")

    def terminate(self, timeout=90):
        """SIGTERM and wait; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
