"""Fault injection against the data layer: every fault ends in verified data or ONE clear message.

Each test injects one fault into a fresh data root (``COURSE_DATA_ROOT``) and runs ``utils.data`` or
``python data/fetch.py`` as a student would. The faults of issue 12 (sidecar vouching for a tampered file,
empty manifest, stray class folder, empty sidecar, corrupt stored archive, read-only root, relative mirror,
leftover ``.part`` files) failed on the code before the fail-closed rewrite; the last ones (concurrent fetch,
kill during copy, corrupt mirror through ``fetch.py``) held already and guard against regressions.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import utils.data.core as core
from tests.test_data import fake_tiny_imagenet_zip
from utils.data import CorruptDataWarning, DataUnavailableError, ensure_dataset, tiny_imagenet, tiny_imagenet_dataset

REPO = Path(__file__).resolve().parents[1]
FETCH = REPO / "data" / "fetch.py"


def leftovers(root: Path) -> list[Path]:
    """Temporary files or folders a fetch must never leave behind."""
    return [p for p in root.rglob("*") if p.name.endswith(".part") or p.name.startswith(".")]


def fetch(*names: str, env: dict[str, str], prefix: tuple[str, ...] = (), **kwargs):
    """Run ``python data/fetch.py NAMES`` as a student would; returns the started process."""
    return subprocess.Popen([*prefix, sys.executable, str(FETCH), *names], env={**os.environ, **env,
                            "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def one_clear_message(stderr: str, *phrases: str) -> None:
    assert "Traceback" not in stderr, stderr
    for phrase in phrases:
        assert phrase in stderr, stderr


def use_manifest(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(core, "MANIFEST", path)
    if hasattr(core, "_manifest"):  # the code before the rewrite cached the manifest
        core._manifest.cache_clear()
        monkeypatch.setattr(core, "_manifest", lambda: core.read_manifest(path))


# ---------------------------------------------------------------- only the manifest vouches for bytes

def test_a_sidecar_cannot_vouch_for_a_tampered_file(fresh_env, make_mirror):
    make_mirror("mnist")
    target = ensure_dataset("mnist") / "t10k-labels-idx1-ubyte"
    good = target.read_bytes()
    target.write_bytes(good[:8] + bytes([(good[8] + 1) % 10]) + good[9:])  # the first test label changed
    sidecar = target.with_name(target.name + ".sha256")
    sidecar.write_text(hashlib.sha256(target.read_bytes()).hexdigest() + "  t10k-labels-idx1-ubyte\n")
    with pytest.warns(CorruptDataWarning, match="t10k-labels-idx1-ubyte is corrupt"):
        ensure_dataset("mnist")
    assert target.read_bytes() == good and not sidecar.exists()


def test_an_empty_sidecar_is_ignored_not_a_crash(fresh_env, make_mirror):
    make_mirror("eng-fra")
    target = ensure_dataset("eng-fra") / "eng-fra.txt"
    good = target.read_bytes()
    target.write_bytes(good[:-10])
    target.with_name("eng-fra.txt.sha256").write_text("")
    with pytest.warns(CorruptDataWarning):
        ensure_dataset("eng-fra")
    assert target.read_bytes() == good


@pytest.mark.parametrize("fault", ["empty", "missing", "blank lines", "garbage"])
def test_a_broken_manifest_is_an_error(fresh_env, make_mirror, monkeypatch, tmp_path, fault):
    make_mirror("mnist")
    manifest = tmp_path / "SHA256SUMS"
    if fault != "missing":
        manifest.write_text({"empty": "", "blank lines": "\n  \n", "garbage": "not a checksum line\n"}[fault])
    use_manifest(monkeypatch, manifest)
    with pytest.raises(RuntimeError, match="SHA256SUMS.*(empty|No such file|is not a line).*git checkout"):
        ensure_dataset("mnist")
    assert not (fresh_env / "MNIST").exists()


def test_a_data_set_without_manifest_entries_is_an_error(fresh_env, make_mirror, monkeypatch, tmp_path):
    make_mirror("mnist", "eng-fra")
    manifest = tmp_path / "SHA256SUMS"
    manifest.write_text("".join(line + "\n" for line in core.MANIFEST.read_text().splitlines() if "MNIST" in line))
    use_manifest(monkeypatch, manifest)
    ensure_dataset("mnist")
    with pytest.raises(RuntimeError, match="lists no files under translation/"):
        ensure_dataset("eng-fra")


# ---------------------------------------------------------------- classes come from the manifest

def test_a_stray_folder_does_not_become_a_class(fresh_env, make_mirror):
    make_mirror("tiny-imagenet-10")
    folder = ensure_dataset("tiny-imagenet-10")
    some_image = next((folder / "train" / "n01443537").iterdir())
    (folder / "train" / "n99999999").mkdir()
    shutil.copy(some_image, folder / "train" / "n99999999" / "stray.JPEG")
    shutil.copy(some_image, folder / "train" / "n01443537" / "extra.JPEG")
    train = tiny_imagenet_dataset("train")
    assert len(train.classes) == 10 and "n99999999" not in train.classes
    assert len(train) == 5000


# ---------------------------------------------------------------- stored archive, leftovers

def test_a_corrupt_stored_archive_is_replaced(fresh_env, course_data, tmp_path, monkeypatch):
    archive = tmp_path / "server" / "tiny-imagenet-200.zip"
    archive.parent.mkdir()
    fake_tiny_imagenet_zip(course_data, archive)
    monkeypatch.setattr(tiny_imagenet, "URL", archive.as_uri())
    monkeypatch.setattr(tiny_imagenet, "MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    fresh_env.mkdir()
    (fresh_env / "tiny-imagenet-200.zip").write_bytes(archive.read_bytes()[:1000])  # an interrupted old copy
    with pytest.warns(CorruptDataWarning, match="tiny-imagenet-200.zip is corrupt"):
        folder = ensure_dataset("tiny-imagenet-10")
    assert (fresh_env / "tiny-imagenet-200.zip").read_bytes() == archive.read_bytes()
    assert len(tiny_imagenet_dataset("val", root=folder)) == 500


def test_leftovers_of_an_interrupted_fetch_are_removed(fresh_env, make_mirror):
    make_mirror("mnist")
    raw = fresh_env / "MNIST" / "raw"
    raw.mkdir(parents=True)
    stale = [raw / "t10k-labels-idx1-ubyte.k2j3h4.part", fresh_env / "tiny-imagenet-200.zip.x9y8.part",
             fresh_env / ".mnist-download-abc" / "MNIST" / "raw" / "train-images-idx3-ubyte"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    ensure_dataset("mnist")
    assert not leftovers(fresh_env), leftovers(fresh_env)


# ---------------------------------------------------------------- where the mirror is

def test_a_relative_mirror_works_from_a_notebook_folder(fresh_env, make_mirror, monkeypatch, tmp_path):
    mirror = make_mirror("eng-fra")
    monkeypatch.setenv("COURSE_DATA_MIRROR", os.path.relpath(mirror, REPO))  # as set at the repository root
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.chdir(notebooks)  # a kernel runs in the notebook's folder
    assert (ensure_dataset("eng-fra") / "eng-fra.txt").is_file()


def test_a_mirror_that_does_not_exist_is_named(fresh_env, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_MIRROR", "no/such/folder")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataUnavailableError, match="COURSE_DATA_MIRROR=no/such/folder is not a folder"):
        ensure_dataset("eng-fra")


# ---------------------------------------------------------------- through data/fetch.py

def _without_root_privileges() -> tuple[str, ...]:
    """A command prefix under which permission bits apply (root ignores them)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be simulated")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search")


def test_a_read_only_data_root_is_one_clear_message(fresh_env, make_mirror):
    mirror = make_mirror("eng-fra")
    fresh_env.mkdir()
    fresh_env.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        process = fetch("eng-fra", env={"COURSE_DATA_ROOT": str(fresh_env), "COURSE_DATA_MIRROR": str(mirror)},
                        prefix=_without_root_privileges())
        _, stderr = process.communicate(timeout=120)
    finally:
        fresh_env.chmod(stat.S_IRWXU)
    assert process.returncode == 1
    one_clear_message(stderr, "eng-fra: NOT AVAILABLE", f"cannot write to the data folder {fresh_env}",
                      "COURSE_DATA_ROOT")


def test_a_corrupt_mirror_is_one_clear_message(fresh_env, make_mirror):
    mirror = make_mirror("eng-fra")
    (mirror / "translation" / "eng-fra.txt").write_text("Go.\tVa !\n")
    process = fetch("eng-fra", env={"COURSE_DATA_ROOT": str(fresh_env), "COURSE_DATA_MIRROR": str(mirror)})
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    one_clear_message(stderr, "mirror's copy is bad", "eng-fra.txt is corrupt or truncated")


def test_concurrent_fetches_agree(fresh_env, make_mirror):
    mirror = make_mirror("mnist")
    env = {"COURSE_DATA_ROOT": str(fresh_env), "COURSE_DATA_MIRROR": str(mirror)}
    processes = [fetch("mnist", env=env) for _ in range(3)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    for rel, digest in core.read_manifest(core.MANIFEST).items():
        if rel.startswith("MNIST/"):
            assert hashlib.sha256((fresh_env / rel).read_bytes()).hexdigest() == digest
    assert not leftovers(fresh_env)


def test_a_fetch_killed_during_the_copy_is_finished_by_the_next(fresh_env, make_mirror):
    mirror = make_mirror("tiny-imagenet-10")
    env = {"COURSE_DATA_ROOT": str(fresh_env), "COURSE_DATA_MIRROR": str(mirror)}
    process = fetch("tiny-imagenet-10", env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(fresh_env.rglob("*.JPEG"))) < 200:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    copied = len(list(fresh_env.rglob("*.JPEG")))
    assert 200 <= copied < 5500, f"the kill came too late to test anything ({copied} images copied)"
    process = fetch("tiny-imagenet-10", env=env)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert len(tiny_imagenet_dataset("train")) == 5000 and not leftovers(fresh_env)
