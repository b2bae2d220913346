"""Fixtures of the object-storage cache tests: a local S3 server (moto) for the session.

* ``s3_server`` (session): a ``moto`` S3 server on 127.0.0.1 (a free port), its endpoint URL.
* ``s3`` (function): the AWS environment pointed at that server (test credentials, region,
  ``AWS_ENDPOINT_URL_S3``, the instance metadata service disabled) and a new, empty bucket;
  returns an :class:`S3` with the bucket name, ``uri(prefix)`` and a pyarrow filesystem.

moto is imported only by these fixtures, so the rest of ``tests/store`` runs without it.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def _free_port() -> int:
    # ThreadedMotoServer(port=0) reports port 0, not the one it bound: pick one first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Endpoint URL of a moto S3 server running for the session."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] (test extra) runs the S3 tests")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@dataclass
class S3:
    endpoint: str
    bucket: str

    def uri(self, prefix: str = "cache") -> str:
        return f"s3://{self.bucket}/{prefix}"

    @property
    def fs(self):  # a pyarrow.fs.S3FileSystem on the server
        from pyarrow import fs

        return fs.S3FileSystem(endpoint_override=self.endpoint, region="us-east-1",
                               access_key="testing", secret_key="testing")

    def env(self) -> dict[str, str]:
        """The environment a subprocess needs to reach the server."""
        return {**_ENV, "AWS_ENDPOINT_URL_S3": self.endpoint}


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> S3:
    """AWS settings aimed at the moto server, and a fresh bucket for this test."""
    for key, value in {**_ENV, "AWS_ENDPOINT_URL_S3": s3_server}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    import boto3  # a dependency of moto

    bucket = f"b-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    return S3(s3_server, bucket)
