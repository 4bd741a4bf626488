"""Fetch files safely: stream to a temporary name, verify the checksum, then rename.

A file that fails its check is deleted, so a failed or interrupted fetch never leaves a
half-written file where a loader would pick it up.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

CHUNK = 1 << 20


class DataUnavailableError(RuntimeError):
    """The data set is not on disk and could not be fetched; the message says what to do."""


class CorruptDataError(RuntimeError):
    """A file's checksum does not match the expected one."""


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """Parse a ``sha256sum``-style file into {relative path: sha256}."""
    manifest = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            manifest[name.lstrip("*").removeprefix("./")] = digest
    return manifest


def _part_name(dest: Path) -> Path:
    """A fresh temporary name beside ``dest``: concurrent fetches (parallel tests) never share one."""
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    os.close(handle)
    return Path(name)


def install_verified(src: Path, dest: Path, sha256: str, move: bool = False) -> Path:
    """Copy (or move) ``src`` to ``dest`` via a temporary name, only if its SHA-256 is ``sha256``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_name(dest)
    try:
        if move:
            os.replace(src, part)
        else:
            shutil.copyfile(src, part)
        actual = file_digest(part)
        if actual != sha256:
            raise CorruptDataError(
                f"{src} is corrupt or truncated: its SHA-256 is {actual}, expected {sha256}. "
                "Replace it with a good copy (or delete it to have it fetched again)."
            )
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def download_file(url: str, dest: Path, sha256: str | None = None, md5: str | None = None,
                  timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``; rename only if the checksum matches.

    At least one of ``sha256`` / ``md5`` must be given: nothing unverified is kept.
    """
    if sha256 is None and md5 is None:
        raise ValueError("download_file needs a sha256 or md5 checksum to verify the download")
    dest.parent.mkdir(parents=True, exist_ok=True)
    algorithm, expected = ("sha256", sha256) if sha256 else ("md5", md5)
    digest = hashlib.new(algorithm)
    part = _part_name(dest)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "dl-course-data/0.1"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != expected:
            raise CorruptDataError(
                f"download of {url} is corrupt or incomplete: {algorithm} {digest.hexdigest()}, "
                f"expected {expected}. Try again; if it persists the server's file has changed."
            )
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest
