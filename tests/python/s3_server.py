"""The S3-compatible test server (`tests/s3-server`: s3s-fs with atomic conditional writes),
started on a free loopback port, and the environment that points `tarn` at it."""

import os
import subprocess
import uuid
from pathlib import Path

from tarn_server import TARN

BUCKET = "tarn-test"
OTHER_BUCKET = "tarn-other"
ACCESS_KEY = "tarn-test"
SECRET_KEY = "tarn-test-secret"


def binary():
    path = Path(os.environ.get("TARN_S3_SERVER_BIN", Path(TARN).parent / "tarn-s3-test-server"))
    assert path.is_file(), f"{path} is missing: `cargo test --workspace` builds it"
    return path


class S3Server:
    def __init__(self, root, *extra):
        self.root = Path(root)
        self.proc = subprocess.Popen([str(binary()), "--root", str(self.root), "--bucket", BUCKET,
                                      "--bucket", OTHER_BUCKET, *extra],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), line
        self.endpoint = line.strip().split("listening on ", 1)[1]

    def env(self, cache_dir=None):
        env = {
            "TARN_S3_ENDPOINT": self.endpoint,
            "TARN_S3_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }
        if cache_dir is not None:
            env["TARN_CACHE_DIR"] = str(cache_dir)
        return env

    def warehouse(self, name="wh"):
        return f"s3://{BUCKET}/{name}-{uuid.uuid4().hex[:8]}"

    def local_path(self, url):
        """Where the server keeps the objects below `url` (s3://bucket/prefix)."""
        rest = url.split("://", 1)[1]
        return self.root / rest

    def stop(self):
        self.proc.kill()
        self.proc.wait()
