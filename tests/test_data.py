import gzip
import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
import torchvision

from utils.data import (
    CorruptDataWarning,
    ensure_dataset,
    mnist_dataset,
    mnist_tensors,
    tiny_imagenet_class_names,
    tiny_imagenet_dataset,
    tiny_imagenet_tensors,
    translation_pairs,
)
import utils.data.core as core
from utils.data import tiny_imagenet, translation
from utils.data.core import CorruptDataError, DataUnavailableError, download_file


def leftovers(root: Path) -> list[Path]:
    """Temporary files or folders a fetch must never leave behind."""
    return [p for p in root.rglob("*") if p.name.endswith(".part") or p.name.startswith(".")]


def data_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# ---------------------------------------------------------------- loading from the mirror

def test_mnist_tensors_counts_shapes_dtypes(course_data):
    for train, n in ((True, 60_000), (False, 10_000)):
        images, labels = mnist_tensors(train)
        assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
        assert labels.shape == (n,) and labels.dtype == torch.int64
        assert labels.min() == 0 and labels.max() == 9
        assert torch.bincount(labels).min() > n // 20  # every digit well represented


def test_mnist_dataset_matches_tensors(course_data):
    dataset = mnist_dataset(train=False, transform=torchvision.transforms.PILToTensor())
    images, labels = mnist_tensors(False)
    assert len(dataset) == 10_000
    image, label = dataset[123]
    assert torch.equal(image[0], images[123]) and label == labels[123]


def test_tiny_imagenet_counts_and_classes(course_data):
    train = tiny_imagenet_dataset("train")
    val = tiny_imagenet_dataset("val", transform=torchvision.transforms.ToTensor())
    assert len(train) == 5000 and len(val) == 500
    assert train.classes == val.classes and len(train.classes) == 10
    assert torch.bincount(torch.tensor(train.targets)).tolist() == [500] * 10
    assert torch.bincount(torch.tensor(val.targets)).tolist() == [50] * 10
    image, label = val[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32 and 0 <= label < 10
    names = tiny_imagenet_class_names()
    assert set(names) == set(train.classes)
    assert names["n01443537"] == "goldfish" and names["n04146614"] == "school bus"


def test_tiny_imagenet_root_is_a_parameter(course_data, tmp_path):
    subset = tmp_path / "two-classes"
    for split in ("train", "val"):
        for wnid in ("n01443537", "n07749582"):
            shutil.copytree(course_data / "tiny-imagenet-10" / split / wnid, subset / split / wnid)
    assert len(tiny_imagenet_dataset("val", root=subset)) == 100
    images, labels, classes = tiny_imagenet_tensors("val", root=subset, size=32)
    assert images.shape == (100, 3, 32, 32) and images.dtype == torch.uint8
    assert classes == ["n01443537", "n07749582"] and labels.bincount().tolist() == [50, 50]
    assert tiny_imagenet_class_names(subset) == {}  # no classes.tsv: callers fall back to folder names
    with pytest.raises(ValueError, match="split must be"):
        tiny_imagenet_dataset("test", root=subset)


def test_translation_pairs(course_data):
    pairs = translation_pairs()
    assert len(pairs) == 5000
    assert all(isinstance(en, str) and isinstance(fr, str) and en and fr for en, fr in pairs)
    assert pairs[0] == ("Go.", "Va !")


def test_translation_pairs_bad_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Hello.\tBonjour.\nno tab here\n")
    with pytest.raises(ValueError, match="bad.txt:2"):
        translation_pairs(bad)


# ---------------------------------------------------------------- mirror, corruption, offline

def test_copies_from_mirror_into_empty_root(fresh_env, make_mirror):
    make_mirror("eng-fra", "mnist")
    folder = ensure_dataset("eng-fra")
    assert folder == fresh_env / "translation" and (folder / "eng-fra.txt").is_file()
    ensure_dataset("mnist")
    assert not leftovers(fresh_env)
    assert all(p.stat().st_mode & 0o444 == 0o444 for p in data_files(fresh_env))  # readable by every user


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_cached_file_is_detected_and_refetched(fresh_env, make_mirror, damage):
    make_mirror("mnist")
    folder = ensure_dataset("mnist")
    target = folder / "t10k-labels-idx1-ubyte"
    good = target.read_bytes()
    if damage == "flip":
        target.write_bytes(good[:500] + bytes([good[500] ^ 0xFF]) + good[501:])
    else:
        target.write_bytes(good[:-100])
    with pytest.warns(CorruptDataWarning, match="t10k-labels-idx1-ubyte is corrupt or truncated"):
        ensure_dataset("mnist")
    assert target.read_bytes() == good


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_mirror_file_is_reported_not_used(fresh_env, make_mirror, damage):
    mirror = make_mirror("eng-fra")
    bad = mirror / "translation" / "eng-fra.txt"
    text = bad.read_bytes()
    bad.write_bytes(text.replace(b"Salut", b"Salud", 1) if damage == "flip" else text[: len(text) // 2])
    with pytest.raises(CorruptDataError, match="mirror's copy is bad.*eng-fra.txt is corrupt or truncated"):
        ensure_dataset("eng-fra")
    assert not (fresh_env / "translation" / "eng-fra.txt").exists()
    assert not leftovers(fresh_env)


def test_incomplete_mirror_says_what_is_missing(fresh_env, tmp_path, monkeypatch):
    (tmp_path / "empty-mirror").mkdir()
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    with pytest.raises(DataUnavailableError, match="has no translation/eng-fra.txt"):
        ensure_dataset("eng-fra")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Every official download fails as it does with no network (no request leaves the machine)."""
    nowhere = (tmp_path / "no-such-server").as_uri()
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [nowhere + "/"])
    monkeypatch.setattr(tiny_imagenet, "URL", nowhere + "/tiny-imagenet-200.zip")
    monkeypatch.setattr(translation, "TUTORIAL_DATA_URL", nowhere + "/data.zip")


@pytest.mark.parametrize("name", ["mnist", "tiny-imagenet-10", "eng-fra"])
def test_offline_without_mirror_gives_the_documented_error(fresh_env, offline, name):
    with pytest.raises(DataUnavailableError) as info:
        ensure_dataset(name)
    message = str(info.value)
    assert "COURSE_DATA_MIRROR is not set" in message
    assert f"python data/fetch.py {name}" in message and "export COURSE_DATA_MIRROR=" in message
    assert not leftovers(fresh_env) and not data_files(fresh_env)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown data set"):
        ensure_dataset("cifar")


# ---------------------------------------------------------------- the official download paths,
# run against local files (file:// URLs) built from the verified copies

def test_download_file_verifies_and_leaves_nothing_on_failure(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 100_000)
    good = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(CorruptDataError, match="corrupt or incomplete"):
        download_file(src.as_uri(), dest, sha256="0" * 64)
    assert not dest.exists() and not dest.with_name("file.bin.part").exists()
    with pytest.raises(OSError):
        download_file((tmp_path / "missing").as_uri(), dest, sha256=good)
    assert list(dest.parent.iterdir()) == []
    download_file(src.as_uri(), dest, sha256=good)
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(ValueError, match="needs a sha256 or md5"):
        download_file(src.as_uri(), dest)


def test_mnist_official_download_path(fresh_env, course_data, tmp_path, monkeypatch, serve_folder):
    server = tmp_path / "server"
    server.mkdir()
    resources = []
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        gz = server / f"{name}.gz"
        gz.write_bytes(gzip.compress((course_data / "MNIST/raw" / name).read_bytes(), compresslevel=1))
        resources.append((gz.name, hashlib.md5(gz.read_bytes()).hexdigest()))
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [serve_folder(server)])
    monkeypatch.setattr(torchvision.datasets.MNIST, "resources", resources)
    folder = ensure_dataset("mnist")
    assert len(list(folder.iterdir())) == 4 and not leftovers(fresh_env)


def fake_tiny_imagenet_zip(course_data: Path, path: Path) -> None:
    """A tiny-imagenet-200.zip in the official layout: the subset's files plus extra ones the
    subset rule must skip (a 501st training image, validation images beyond the 50th, other classes)."""
    subset = course_data / "tiny-imagenet-10"
    base = "tiny-imagenet-200/"
    annotations = []
    words = [line for line in (subset / "classes.tsv").read_text().splitlines()]
    words.insert(3, "n99999999\tnot in the subset")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(base + "words.txt", "\n".join(words) + "\n")
        for wnid in tiny_imagenet.TINY_IMAGENET_10:
            for image in (subset / "train" / wnid).iterdir():
                archive.write(image, f"{base}train/{wnid}/images/{image.name}")
            archive.writestr(f"{base}train/{wnid}/images/{wnid}_500.JPEG", b"not in the subset")
            for image in sorted((subset / "val" / wnid).iterdir(), key=lambda p: tiny_imagenet.natural_key(p.name)):
                archive.write(image, f"{base}val/images/{image.name}")
                annotations.append(f"{image.name}\t{wnid}\t0\t0\t63\t63")
            extra = f"extra_{wnid}.JPEG"
            archive.writestr(f"{base}val/images/{extra}", b"51st of its class")
            annotations.append(f"{extra}\t{wnid}\t0\t0\t63\t63")
        archive.writestr(base + "val/val_annotations.txt", "\n".join(annotations) + "\n")


def test_tiny_imagenet_official_download_path(fresh_env, course_data, tmp_path, monkeypatch):
    archive = tmp_path / "server" / "tiny-imagenet-200.zip"
    archive.parent.mkdir()
    fake_tiny_imagenet_zip(course_data, archive)
    monkeypatch.setattr(tiny_imagenet, "URL", archive.as_uri())
    monkeypatch.setattr(tiny_imagenet, "MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    folder = ensure_dataset("tiny-imagenet-10")  # every extracted file is checked against SHA256SUMS
    assert len(tiny_imagenet_dataset("train", root=folder)) == 5000
    assert (fresh_env / "tiny-imagenet-200.zip").is_file() and not leftovers(fresh_env)


def test_tiny_imagenet_bad_archive_is_not_kept(fresh_env, tmp_path, monkeypatch):
    archive = tmp_path / "tiny-imagenet-200.zip"
    archive.write_bytes(b"truncated")
    monkeypatch.setattr(tiny_imagenet, "URL", archive.as_uri())
    with pytest.raises(CorruptDataError, match="corrupt or incomplete"):
        ensure_dataset("tiny-imagenet-10")
    assert not data_files(fresh_env)


def test_eng_fra_official_download_path(fresh_env, tmp_path, monkeypatch):
    lines = [f"{'Hello' + '!' * (i % 7)}\tBonjour {i}." for i in range(6000)]
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data/eng-fra.txt", "\n".join(lines) + "\n")
    monkeypatch.setattr(translation, "TUTORIAL_DATA_URL", archive.as_uri())
    # the derived file is not the mirror's copy: no manifest line vouches for it, so it is refused
    with pytest.raises(DataUnavailableError, match="does not list for translation/eng-fra.txt"):
        translation_pairs()
    assert not data_files(fresh_env) and not leftovers(fresh_env)
    # with its own manifest line (a second one for the same path) it is accepted
    shortest = sorted(lines, key=lambda line: len(line.split("\t")[0]))[:5000]
    derived = hashlib.sha256(("\n".join(shortest) + "\n").encode()).hexdigest()
    manifest = tmp_path / "SHA256SUMS"
    manifest.write_text(core.MANIFEST.read_text() + f"{derived}  ./translation/eng-fra.txt\n")
    monkeypatch.setattr(core, "MANIFEST", manifest)
    pairs = translation_pairs()
    assert len(pairs) == 5000
    chosen = {f"{en}\t{fr}" for en, fr in pairs}
    rest = [line.split("\t")[0] for line in lines if line not in chosen]
    assert len(rest) == 1000 and max(len(en) for en, _ in pairs) <= min(len(en) for en in rest)
    # later damage is caught by the manifest line
    path = fresh_env / "translation" / "eng-fra.txt"
    path.write_text(path.read_text()[:-50])
    monkeypatch.setattr(translation, "TUTORIAL_DATA_URL", (tmp_path / "gone.zip").as_uri())
    with pytest.warns(CorruptDataWarning), pytest.raises(DataUnavailableError):
        ensure_dataset("eng-fra")


def test_the_manifest_may_vouch_for_two_versions_of_a_file(tmp_path):
    manifest = tmp_path / "SHA256SUMS"
    manifest.write_text(f"{'a' * 64}  ./x/f.txt\n{'b' * 64}  x/f.txt\n{'c' * 64}  *x/g.txt\n")
    assert core.manifest_digests(manifest) == {"x/f.txt": {"a" * 64, "b" * 64}, "x/g.txt": {"c" * 64}}
    assert core.read_manifest(manifest) == {"x/f.txt": "a" * 64, "x/g.txt": "c" * 64}


def test_make_demo_fetches_only_what_its_notebook_needs():
    """`make demo` runs one notebook; it fetches a data set only if that notebook loads one."""
    import json
    import re

    repo = Path(__file__).resolve().parents[1]
    makefile = (repo / "Makefile").read_text()
    demo = re.search(r"^DEMO\s*:=\s*(\S+)", makefile, re.M)[1]
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.M)[1]
    code = "\n".join("".join(cell["source"]) for cell in json.loads((repo / demo).read_text())["cells"]
                     if cell["cell_type"] == "code")
    if "utils.data" not in code:
        assert "fetch.py" not in recipe, f"{demo} loads no data set, yet `make demo` fetches:\n{recipe}"
    else:
        assert "fetch.py --keep-going" not in recipe and "fetch.py\n" not in recipe, "fetch only the sets it uses"
