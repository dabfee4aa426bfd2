"""Shared fixtures: hermetic environment, real data folders, a local HTTP mirror.

No test here reaches the internet: every test runs with BRAINNET_OFFLINE=1 and
the built-in mirror lists emptied, unless it points BRAINNET_DATASET_MIRROR
at a server on 127.0.0.1 (and then only that server is tried).
"""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from brainnet.datasets import _files, fashion_mnist, mnist

REPO = Path(__file__).resolve().parents[2]


def _complete(folder: Path) -> bool:
    return all(_files._find(folder, stem) for stem in _files.FILES)


def _real_mnist_dir() -> Path | None:
    # Read at import, before the autouse fixture clears BRAINNET_DATA_DIR. The
    # download tests serve the .gz files, so those are needed.
    data_dir = os.environ.get("BRAINNET_DATA_DIR")
    candidates = [Path(data_dir) / "mnist"] if data_dir else []
    candidates.append(REPO.parent / "shared" / "datasets" / "mnist")
    has_gz = lambda c: all((c / f"{stem}.gz").is_file() for stem in _files.FILES)  # noqa: E731
    return next((c for c in candidates if has_gz(c)), None)


MNIST_DIR = _real_mnist_dir()
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def hermetic(monkeypatch, tmp_path):
    """An empty cache under tmp_path, offline, no mirrors, no data dir."""
    for var in ("BRAINNET_DATA_DIR", "BRAINNET_DATASET_MIRROR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BRAINNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BRAINNET_OFFLINE", "1")
    monkeypatch.setattr(mnist, "MIRRORS", ())
    monkeypatch.setattr(fashion_mnist, "MIRRORS", ())


@pytest.fixture
def no_system_dir(monkeypatch, tmp_path):
    """Points the system folder at an empty folder."""
    empty = tmp_path / "system"
    empty.mkdir()
    monkeypatch.setattr(_files, "SYSTEM_DIR", empty)
    return empty


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if MNIST_DIR is None:
        pytest.skip(
            "real MNIST not found: set BRAINNET_DATA_DIR to a folder holding "
            f"mnist/ or put the four .gz files in {REPO.parent / 'shared/datasets/mnist'}"
        )
    return MNIST_DIR


@pytest.fixture
def fashion_dir() -> Path:
    if not _complete(FASHION_DIR):
        pytest.skip(f"Fashion-MNIST not in {FASHION_DIR} (apt install dataset-fashion-mnist)")
    return FASHION_DIR


class Server:
    """Serves ``files`` (name -> bytes) at ``url`` on 127.0.0.1, counting requests.

    A value ``(body, length)`` announces ``length`` bytes but sends ``body``
    then closes the connection: an interrupted download.
    """

    def __init__(self, files: dict):
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.files.get(self.path.rsplit("/", 1)[-1])
                if body is None:
                    self.send_error(404)
                    return
                body, length = body if isinstance(body, tuple) else (body, len(body))
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/data/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def serve():
    """Returns a factory ``serve(files) -> Server``; servers stop at teardown."""
    servers = []

    def start(files: dict) -> Server:
        servers.append(Server(files))
        return servers[-1]

    yield start
    for server in servers:
        if server.thread.is_alive():
            server.close()
