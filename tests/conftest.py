import os
import shutil
from pathlib import Path

import pytest

from utils.data import DATASETS, data_root, ensure_dataset


@pytest.fixture(scope="session")
def course_data() -> Path:
    """The verified course data in the default data root (copied from the mirror or downloaded)."""
    for name in DATASETS:
        ensure_dataset(name)
    return data_root()


@pytest.fixture
def fresh_env(tmp_path, monkeypatch):
    """An empty data root and no mirror: a student's machine before anything was fetched."""
    root = tmp_path / "root"
    monkeypatch.setenv("COURSE_DATA_ROOT", str(root))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    return root


@pytest.fixture
def make_mirror(tmp_path, course_data, monkeypatch):
    """Build a mirror folder holding copies of some data sets, point COURSE_DATA_MIRROR at it."""
    def make(*names: str) -> Path:
        mirror = tmp_path / "mirror"
        for name in names:
            shutil.copytree(course_data / DATASETS[name].folder, mirror / DATASETS[name].folder,
                            ignore=shutil.ignore_patterns("*.sha256", "*.part"))
        monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
        return mirror
    return make


@pytest.fixture
def serve_folder():
    """Serve a folder over HTTP on 127.0.0.1 (a stand-in for a download server); yields a starter."""
    import functools
    import http.server
    import threading

    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
