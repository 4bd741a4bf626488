"""The shared machinery of the data sets: where files live, the manifest, safe copies and downloads.

A data set module (``mnist.py``, ``tiny_imagenet.py``, ...) registers a ``DataSet``; ``ensure_dataset``
then makes its files present and verified, taking them from the data root, the mirror, or the download.

Verification fails closed: only the project's manifest ``utils/data/SHA256SUMS`` vouches for bytes. A missing
or empty manifest, or a data set it lists no files for, is an error; a file whose official source gives
different bytes than the mirror's copy is vouched for by a second line for the same path.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from utils.progress import progress

try:
    import fcntl
except ImportError:  # Windows: fetches are not serialised, and leftovers are not removed
    fcntl = None

ROOT_ENV = "COURSE_DATA_ROOT"
MIRROR_ENV = "COURSE_DATA_MIRROR"
REPO_DIR = Path(__file__).resolve().parents[2]
# The manifest ships inside the package, so a pip-installed package (Colab, a downloaded notebook) verifies too.
MANIFEST = Path(__file__).resolve().with_name("SHA256SUMS")
# In a repository checkout the cache is its data/ folder; an installed package caches under the user's cache folder.
DATA_DIR = (REPO_DIR / "data" if (REPO_DIR / "pyproject.toml").is_file() and (REPO_DIR / "data").is_dir()
            else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dl-course-data")
CHUNK = 1 << 20


class DataError(RuntimeError):
    """A data set cannot be used; the message says what to do."""


class DataUnavailableError(DataError):
    """The data set is not on disk and could not be fetched (offline, no mirror, unwritable root)."""


class CorruptDataError(DataError):
    """A file's checksum does not match the manifest."""


class ManifestError(DataError):
    """The project's manifest ``utils/data/SHA256SUMS`` is missing, empty, malformed or silent about a data set."""


class CorruptDataWarning(UserWarning):
    """A cached data file failed its checksum and is being fetched again."""


# A download puts the wanted files {relative path: accepted SHA-256s} under the data root (``install_verified``).
Downloader = Callable[[Path, dict[str, frozenset[str]]], None]


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
    """``{relative path: SHA-256}`` of a ``sha256sum``-style file (the first line of a path listed twice;
    ``manifest_digests`` gives all of them)."""
    return {rel: digests[0] for rel, digests in _parse_manifest(Path(path)).items()}


def manifest_digests(path: Path) -> dict[str, frozenset[str]]:
    """Parse a ``sha256sum``-style file into ``{relative path: accepted SHA-256s}``.

    A path may appear on several lines (a file whose official source differs from the mirror's copy).
    """
    return {rel: frozenset(digests) for rel, digests in _parse_manifest(Path(path)).items()}


def _parse_manifest(path: Path) -> dict[str, list[str]]:
    try:
        text = path.read_text()
    except OSError as err:
        raise ManifestError(f"cannot read the data manifest {path} ({err.strerror or err}). It is part of the course "
                            "repository: restore it (`git checkout utils/data/SHA256SUMS`), or reinstall the package.") from None
    manifest: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(maxsplit=1)
        if len(fields) != 2 or len(fields[0]) != 64 or not all(c in "0123456789abcdef" for c in fields[0]):
            raise ManifestError(f"{path}:{number} is not a line 'sha256  relative/path': {line!r}. "
                                "Restore the file from the repository (`git checkout utils/data/SHA256SUMS`).")
        manifest.setdefault(fields[1].lstrip("*").removeprefix("./"), []).append(fields[0])
    if not manifest:
        raise ManifestError(f"the data manifest {path} is empty, so nothing can be verified. Restore it from the "
                            "repository (`git checkout utils/data/SHA256SUMS`).")
    return manifest


def _accepted(sha256: str | Collection[str]) -> frozenset[str]:
    return frozenset([sha256]) if isinstance(sha256, str) else frozenset(sha256)


def _part_name(dest: Path) -> Path:
    """A fresh temporary name beside ``dest``: concurrent fetches (parallel tests) never share one."""
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    os.close(handle)
    return Path(name)


def install_verified(src: Path, dest: Path, sha256: str | Collection[str], move: bool = False) -> Path:
    """Copy (or move) ``src`` to ``dest`` via a temporary name, only if its SHA-256 is (one of) ``sha256``."""
    accepted = _accepted(sha256)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_name(dest)
    try:
        if move:
            os.replace(src, part)
        else:
            shutil.copyfile(src, part)
        actual = file_digest(part)
        if actual not in accepted:
            raise CorruptDataError(
                f"{src} is corrupt or truncated: its SHA-256 is {actual}, expected {' or '.join(sorted(accepted))}. "
                "Replace it with a good copy (or delete it to have it fetched again)."
            )
        os.chmod(part, 0o644)  # mkstemp's 0600 would hide a shared data root from other users
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def download_file(url: str, dest: Path, sha256: str | None = None, md5: str | None = None,
                  timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through ``dest.<random>.part``; rename only if the checksum matches.

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
            with progress(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != expected:
            raise CorruptDataError(
                f"download of {url} is corrupt or incomplete: {algorithm} {digest.hexdigest()}, "
                f"expected {expected}. Try again; if it persists the server's file has changed."
            )
        os.chmod(part, 0o644)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def fetch_folder(root: Path, name: str) -> tempfile.TemporaryDirectory:
    """A temporary folder ``root/.<name>-XXXX`` for a download to unpack into; a killed fetch's one is
    removed by the next fetch of the same data set."""
    return tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-")


# ---------------------------------------------------------------- where the files are

def data_root() -> Path:
    """Folder where data sets are cached: ``COURSE_DATA_ROOT``, else the checkout's ``data/``, else ``~/.cache/dl-course-data``."""
    return Path(os.environ.get(ROOT_ENV) or DATA_DIR).expanduser()


def mirror() -> Path | None:
    """The offline mirror named by ``COURSE_DATA_MIRROR``, or ``None``.

    A relative value is looked up from the current folder, then from the repository root (where the
    ``make`` targets run), so ``../shared/data`` still works in a kernel started in ``notebooks/``.
    """
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, REPO_DIR / path]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    raise DataUnavailableError(
        f"{MIRROR_ENV}={value} is not a folder (looked at {' and '.join(str(c) for c in candidates)}). "
        f"Set it to the absolute path of the offline copies, e.g. `export {MIRROR_ENV}=$(realpath ../shared/data)`, "
        "or unset it to download the data."
    )


@lru_cache(maxsize=4)
def _cached_manifest(path: str, mtime_ns: int, size: int) -> dict[str, frozenset[str]]:
    return manifest_digests(Path(path))


def manifest() -> dict[str, frozenset[str]]:
    """The project's manifest ``utils/data/SHA256SUMS`` (re-read when it changes)."""
    try:
        stat = MANIFEST.stat()
    except OSError:
        return manifest_digests(MANIFEST)  # raises the ManifestError that says what to do
    return _cached_manifest(str(MANIFEST), stat.st_mtime_ns, stat.st_size)


def _dataset(name: str) -> DataSet:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def expected_files(name: str) -> dict[str, frozenset[str]]:
    """``{path relative to the data root: accepted SHA-256s}`` of data set ``name``, from the manifest."""
    prefix = _dataset(name).folder + "/"
    expected = {path: digests for path, digests in manifest().items() if path.startswith(prefix)}
    if not expected:
        raise ManifestError(f"the data manifest {MANIFEST} lists no files under {prefix}, so the {name} data set "
                            "cannot be verified. Restore the manifest from the repository "
                            "(`git checkout utils/data/SHA256SUMS`).")
    return expected


def dataset_files(name: str) -> list[str]:
    """The files of data set ``name`` relative to its folder, as the manifest lists them (sorted).

    Loaders use this list rather than what happens to lie in the folder, so a stray file is never data.
    """
    cut = len(_dataset(name).folder) + 1
    return sorted(path[cut:] for path in expected_files(name))


# ---------------------------------------------------------------- ensure_dataset

def _check_local(root: Path, expected: dict[str, frozenset[str]], warn: bool = True) -> list[str]:
    """Relative paths that are missing or fail their checksum (those are reported)."""
    bad = []
    for rel, digests in expected.items():
        path = root / rel
        if not path.is_file():
            bad.append(rel)
        elif file_digest(path) not in digests:
            if warn:
                warnings.warn(f"{path} is corrupt or truncated (SHA-256 mismatch); fetching it again.",
                              CorruptDataWarning, stacklevel=3)
            bad.append(rel)
    return bad


def ensure_dataset(name: str, root: Path | None = None) -> Path:
    """Make sure every file of data set ``name`` is under ``root`` and verified; return its folder.

    Raises a ``DataError`` (``DataUnavailableError``, ``CorruptDataError``, ``ManifestError``) whose
    message says what to do.
    """
    dataset = _dataset(name)
    root = Path(root) if root is not None else data_root()
    expected = expected_files(name)
    bad = _check_local(root, expected)
    if bad:
        with _fetch_lock(root) as exclusive:
            if exclusive:
                _remove_leftovers(root, dataset)
            bad = _check_local(root, expected, warn=False)  # another process may have fetched it meanwhile
            if bad:
                _fetch(dataset, root, {rel: expected[rel] for rel in bad})
            still_bad = _check_local(root, {rel: expected[rel] for rel in bad}, warn=False)
        if still_bad:
            raise CorruptDataError(f"{name}: {len(still_bad)} file(s) still fail verification, e.g. "
                                   f"{root / still_bad[0]}. Delete them and run `python data/fetch.py {name}`.")
    return root / dataset.folder


@contextlib.contextmanager
def _fetch_lock(root: Path) -> Iterator[bool]:
    """Hold an exclusive lock on the folder ``root`` while fetching (yields whether the lock is real)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK):
            raise PermissionError(13, "Permission denied", str(root))
    except OSError as err:
        raise DataUnavailableError(_unwritable_message(root, err)) from None
    if fcntl is None:
        yield False
        return
    handle = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(handle)  # releases the lock


def _remove_leftovers(root: Path, dataset: DataSet) -> None:
    """Remove what a killed fetch left: ``*.part`` files, ``.<name>-*`` folders, and ``*.sha256`` sidecars
    (written by earlier versions; only the manifest vouches for bytes now)."""
    folder = root / dataset.folder
    stale = [*root.glob("*.part"), *root.glob(f".{dataset.name}-*")]
    if folder.is_dir():
        stale += [*folder.rglob("*.part"), *folder.rglob("*.sha256")]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _unwritable_message(root: Path, err: OSError) -> str:
    return (f"cannot write to the data folder {root} ({err.strerror or err}). Set {ROOT_ENV} to a folder you "
            f"can write to, e.g. `export {ROOT_ENV}=$HOME/course-data`, or make {root} writable; then run again.")


def _fetch(dataset: DataSet, root: Path, wanted: dict[str, frozenset[str]]) -> None:
    source = mirror()
    try:
        if source is not None:
            _copy_from_mirror(dataset, source, root, wanted)
        else:
            dataset.download(root, wanted)
    except DataError:
        raise
    except PermissionError as err:
        raise DataUnavailableError(_unwritable_message(root, err)) from None
    except (OSError, RuntimeError, zipfile.BadZipFile) as err:
        if source is not None:  # a mirror is local: this is a disk problem, not a network one
            raise DataUnavailableError(f"copying {dataset.name} from {source} to {root} failed ({err}). "
                                       "Check the free space and permissions of both folders.") from None
        raise DataUnavailableError(_offline_message(dataset, root, err)) from None


def _offline_message(dataset: DataSet, root: Path, err: BaseException) -> str:
    name, folder = dataset.name, dataset.folder
    return (
        f"Could not get the {name} data set: it is not under {root / folder}, {MIRROR_ENV} is not set, "
        f"and the download failed ({type(err).__name__}: {err}).\n"
        "Do one of these, then run again:\n"
        f"  - connect to the internet and run `python data/fetch.py {name}`;\n"
        f"  - point {MIRROR_ENV} at a folder of offline copies with the same layout "
        f"(it must contain {folder}/), e.g. `export {MIRROR_ENV}=../shared/data`;\n"
        f"  - copy the files into {root / folder} yourself (data/README.md lists them)."
    )


def _copy_from_mirror(dataset: DataSet, source: Path, root: Path, wanted: dict[str, frozenset[str]]) -> None:
    for rel, digests in wanted.items():
        src = source / rel
        if not src.is_file():
            raise DataUnavailableError(
                f"{MIRROR_ENV}={source} has no {rel}. Point {MIRROR_ENV} at a complete copy of the "
                f"course data (see data/README.md), or unset it to download {dataset.name}."
            )
        try:
            install_verified(src, root / rel, digests)
        except CorruptDataError as err:
            raise CorruptDataError(f"the mirror's copy is bad: {err}") from None
