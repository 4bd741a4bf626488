"""The shared machinery of the data sets: where files live, the manifest, safe copies and downloads.

A data set module (``mnist.py``, ``tiny_imagenet.py``, ...) registers a ``DataSet``; ``ensure_dataset``
then makes its files present and verified, taking them from the data root, the mirror, or the download.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tqdm.auto import tqdm

ROOT_ENV = "COURSE_DATA_ROOT"
MIRROR_ENV = "COURSE_DATA_MIRROR"
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MANIFEST = DATA_DIR / "SHA256SUMS"
CHUNK = 1 << 20


class DataUnavailableError(RuntimeError):
    """The data set is not on disk and could not be fetched; the message says what to do."""


class CorruptDataError(RuntimeError):
    """A file's checksum does not match the expected one."""


class CorruptDataWarning(UserWarning):
    """A cached data file failed its checksum and is being fetched again."""


# A download puts the wanted files {relative path: sha256} under the data root (via ``install_verified``).
Downloader = Callable[[Path, dict[str, str]], None]


@dataclass(frozen=True)
class DataSet:
    """One data set: its ``name`` (``ensure_dataset(name)``, ``data/fetch.py name``), its ``folder``
    under the data root and the mirror (its manifest entries are the lines starting with ``folder/``),
    and ``download``, the official download."""

    name: str
    folder: str
    download: Downloader


DATASETS: dict[str, DataSet] = {}


def register(dataset: DataSet) -> DataSet:
    """Make ``dataset`` known to ``ensure_dataset`` and ``data/fetch.py``."""
    DATASETS[dataset.name] = dataset
    return dataset


# ---------------------------------------------------------------- files

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


# ---------------------------------------------------------------- data sets

def data_root() -> Path:
    """Folder where data sets are cached: ``COURSE_DATA_ROOT`` or the repository's ``data/``."""
    return Path(os.environ.get(ROOT_ENV) or DATA_DIR).expanduser()


def _mirror() -> Path | None:
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser() if value else None


@lru_cache(maxsize=1)
def _manifest() -> dict[str, str]:
    return read_manifest(MANIFEST)


def _expected(name: str) -> dict[str, str]:
    prefix = DATASETS[name].folder + "/"
    return {path: digest for path, digest in _manifest().items() if path.startswith(prefix)}


def _local_digest_ok(path: Path, expected: str) -> bool:
    """True if ``path`` holds the manifest's bytes, or the bytes its ``.sha256`` sidecar records.

    A sidecar is written only by a download whose source differs from the mirror's copy
    (the PyTorch tutorial's eng-fra file); it still catches later corruption.
    """
    actual = file_digest(path)
    if actual == expected:
        return True
    sidecar = path.with_name(path.name + ".sha256")
    return sidecar.exists() and sidecar.read_text().split()[0] == actual


def _check_local(root: Path, expected: dict[str, str]) -> list[str]:
    """Relative paths that are missing or fail their checksum (those are reported)."""
    bad = []
    for rel, digest in expected.items():
        path = root / rel
        if not path.is_file():
            bad.append(rel)
        elif not _local_digest_ok(path, digest):
            warnings.warn(f"{path} is corrupt or truncated (SHA-256 mismatch); fetching it again.",
                          CorruptDataWarning, stacklevel=3)
            bad.append(rel)
    return bad


def ensure_dataset(name: str, root: Path | None = None) -> Path:
    """Make sure every file of data set ``name`` is under ``root`` and verified; return its folder."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    root = Path(root) if root is not None else data_root()
    expected = _expected(name)
    missing = _check_local(root, expected)
    if missing:
        mirror = _mirror()
        if mirror is not None:
            _copy_from_mirror(name, mirror, root, {rel: expected[rel] for rel in missing})
        else:
            root.mkdir(parents=True, exist_ok=True)
            try:
                DATASETS[name].download(root, {rel: expected[rel] for rel in missing})
            except (urllib.error.URLError, OSError, RuntimeError) as err:
                if isinstance(err, (CorruptDataError, DataUnavailableError)):
                    raise
                raise DataUnavailableError(_offline_message(name, root, err)) from err
        still_bad = _check_local(root, {rel: expected[rel] for rel in missing})
        if still_bad:
            raise CorruptDataError(f"{name}: {len(still_bad)} file(s) still fail verification, "
                                   f"e.g. {root / still_bad[0]}")
    return root / DATASETS[name].folder


def _offline_message(name: str, root: Path, err: BaseException) -> str:
    folder = DATASETS[name].folder
    return (
        f"Could not get the {name} data set: it is not under {root / folder}, {MIRROR_ENV} is not set, "
        f"and the download failed ({type(err).__name__}: {err}).\n"
        "Do one of these, then run again:\n"
        f"  - connect to the internet and run `python data/fetch.py {name}`;\n"
        f"  - point {MIRROR_ENV} at a folder of offline copies with the same layout "
        f"(it must contain {folder}/), e.g. `export {MIRROR_ENV}=../shared/data`;\n"
        f"  - copy the files into {root / folder} yourself (data/README.md lists them)."
    )


def _copy_from_mirror(name: str, mirror: Path, root: Path, wanted: dict[str, str]) -> None:
    for rel, digest in wanted.items():
        src = mirror / rel
        if not src.is_file():
            raise DataUnavailableError(
                f"{MIRROR_ENV}={mirror} has no {rel}. Point {MIRROR_ENV} at a complete copy of the "
                f"course data (see data/README.md), or unset it to download {name}."
            )
        try:
            install_verified(src, root / rel, digest)
        except CorruptDataError as err:
            raise CorruptDataError(f"the mirror's copy is bad: {err}") from None
