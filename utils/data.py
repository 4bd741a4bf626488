"""The course data sets: MNIST, a 10-class Tiny ImageNet subset, and Tatoeba English-French pairs.

Every file is checked against ``data/SHA256SUMS`` before use. Sources, in order:

1. files already under the data root (``data/`` in the repository, or ``COURSE_DATA_ROOT``);
2. the offline mirror folder named by ``COURSE_DATA_MIRROR`` (same layout as the data root);
3. the official download.

A missing, corrupt or truncated file is reported and fetched again from the next source.
"""
from __future__ import annotations

import os
import re
import tempfile
import urllib.error
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from utils.download import (
    CorruptDataError,
    DataUnavailableError,
    download_file,
    file_digest,
    install_verified,
    read_manifest,
)

ROOT_ENV = "COURSE_DATA_ROOT"
MIRROR_ENV = "COURSE_DATA_MIRROR"
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
MANIFEST = DATA_DIR / "SHA256SUMS"

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
# The 10 classes of the course subset, in the order of its classes.tsv.
TINY_IMAGENET_10 = ("n01443537", "n02279972", "n04146614", "n07873807", "n07749582",
                    "n04398044", "n01882714", "n01910747", "n04285008", "n07734744")
TUTORIAL_DATA_URL = "https://download.pytorch.org/tutorial/data.zip"
TRANSLATION_PAIRS = 5000

# name -> folder under the data root (and the mirror) holding its files
DATASETS = {
    "mnist": "MNIST/raw",
    "tiny-imagenet-10": "tiny-imagenet-10",
    "eng-fra": "translation",
}


class CorruptDataWarning(UserWarning):
    """A cached data file failed its checksum and is being fetched again."""


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
    prefix = DATASETS[name] + "/"
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
                _DOWNLOADERS[name](root, {rel: expected[rel] for rel in missing})
            except (urllib.error.URLError, OSError, RuntimeError) as err:
                if isinstance(err, (CorruptDataError, DataUnavailableError)):
                    raise
                raise DataUnavailableError(_offline_message(name, root, err)) from err
        still_bad = _check_local(root, {rel: expected[rel] for rel in missing})
        if still_bad:
            raise CorruptDataError(f"{name}: {len(still_bad)} file(s) still fail verification, "
                                   f"e.g. {root / still_bad[0]}")
    return root / DATASETS[name]


def _offline_message(name: str, root: Path, err: BaseException) -> str:
    folder = DATASETS[name]
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


# ---------------------------------------------------------------- official downloads

def _download_mnist(root: Path, wanted: dict[str, str]) -> None:
    import torchvision

    with tempfile.TemporaryDirectory(dir=root, prefix=".mnist-download-") as tmp:
        # torchvision downloads the gzip files (checking their MD5) and unpacks the IDX files.
        torchvision.datasets.MNIST(tmp, train=True, download=True)
        raw = Path(tmp) / "MNIST" / "raw"
        for rel, digest in wanted.items():
            install_verified(raw / Path(rel).name, root / rel, digest, move=True)


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def tiny_imagenet_subset_members(archive: zipfile.ZipFile, wnids: tuple[str, ...],
                                 n_train: int = 500, n_val: int = 50) -> dict[str, str]:
    """Map ``subset path -> archive member`` for a class subset of ``tiny-imagenet-200.zip``.

    Training images: the first ``n_train`` of each class in natural sort order. Validation
    images: the first ``n_val`` of each class as listed in ``val/val_annotations.txt``.
    Subset paths follow the ``ImageFolder`` layout ``train/<wnid>/<file>``, ``val/<wnid>/<file>``.
    """
    base = "tiny-imagenet-200/"
    names = set(archive.namelist())
    members = {}
    for wnid in wnids:
        prefix = f"{base}train/{wnid}/images/"
        files = sorted((m[len(prefix):] for m in names if m.startswith(prefix) and m != prefix),
                       key=_natural_key)
        if len(files) < n_train:
            raise ValueError(f"{wnid}: only {len(files)} training images in the archive")
        members.update({f"train/{wnid}/{f}": prefix + f for f in files[:n_train]})
    val_counts = dict.fromkeys(wnids, 0)
    for line in archive.read(f"{base}val/val_annotations.txt").decode().splitlines():
        file, wnid = line.split("\t")[:2]
        if wnid in val_counts and val_counts[wnid] < n_val:
            members[f"val/{wnid}/{file}"] = f"{base}val/images/{file}"
            val_counts[wnid] += 1
    return members


def _download_tiny_imagenet(root: Path, wanted: dict[str, str]) -> None:
    archive_path = root / "tiny-imagenet-200.zip"
    if not archive_path.exists():
        print(f"Downloading {TINY_IMAGENET_URL} (about 240 MB) to {archive_path} ...")
        download_file(TINY_IMAGENET_URL, archive_path, md5=TINY_IMAGENET_MD5)
    folder = DATASETS["tiny-imagenet-10"]
    with zipfile.ZipFile(archive_path) as archive:
        members = tiny_imagenet_subset_members(archive, TINY_IMAGENET_10)
        words = dict(line.split("\t", 1) for line in archive.read("tiny-imagenet-200/words.txt")
                     .decode().splitlines())
        with tempfile.TemporaryDirectory(dir=root, prefix=".tiny-imagenet-") as tmp:
            for rel, digest in wanted.items():
                sub = rel[len(folder) + 1:]
                extracted = Path(tmp) / sub
                extracted.parent.mkdir(parents=True, exist_ok=True)
                if sub == "classes.tsv":
                    extracted.write_text("".join(f"{w}\t{words[w]}\n" for w in TINY_IMAGENET_10))
                else:
                    extracted.write_bytes(archive.read(members[sub]))
                install_verified(extracted, root / rel, digest, move=True)


def _download_eng_fra(root: Path, wanted: dict[str, str]) -> None:
    # The tutorial zip has no published checksum, and its eng-fra.txt is an older, two-column
    # export of the same Tatoeba data; zip's CRC-32 guards the transfer, and a sidecar records
    # the derived file's SHA-256 so later corruption is still caught.
    with tempfile.TemporaryDirectory(dir=root, prefix=".eng-fra-") as tmp:
        zip_path = Path(tmp) / "data.zip"
        request = urllib.request.Request(TUTORIAL_DATA_URL, headers={"User-Agent": "dl-course-data/0.1"})
        with urllib.request.urlopen(request, timeout=60) as response:
            zip_path.write_bytes(response.read())
        with zipfile.ZipFile(zip_path) as archive:
            if archive.testzip() is not None:
                raise CorruptDataError(f"{TUTORIAL_DATA_URL} arrived corrupt; try again.")
            lines = archive.read("data/eng-fra.txt").decode("utf-8").splitlines()
        pairs = [line for line in lines if line.count("\t") >= 1]
        shortest = sorted(pairs, key=lambda line: len(line.split("\t")[0]))[:TRANSLATION_PAIRS]
        for rel in wanted:
            derived = Path(tmp) / "eng-fra.txt"
            derived.write_text("\n".join(shortest) + "\n", encoding="utf-8")
            digest = file_digest(derived)
            install_verified(derived, root / rel, digest, move=True)
            (root / (rel + ".sha256")).write_text(f"{digest}  from {TUTORIAL_DATA_URL}\n")


_DOWNLOADERS = {
    "mnist": _download_mnist,
    "tiny-imagenet-10": _download_tiny_imagenet,
    "eng-fra": _download_eng_fra,
}


# ---------------------------------------------------------------- MNIST

def _read_idx(path: Path, magic: int, dims: int) -> np.ndarray:
    raw = path.read_bytes()
    header = np.frombuffer(raw, dtype=">i4", count=1 + dims, offset=0)
    if header[0] != magic:
        raise CorruptDataError(f"{path} is not an IDX file of the expected kind (magic {header[0]}).")
    shape = tuple(int(n) for n in header[1:])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 * (1 + dims))
    if data.size != int(np.prod(shape)):
        raise CorruptDataError(f"{path} holds {data.size} bytes of data, its header promises {shape}.")
    return data.reshape(shape)


@lru_cache(maxsize=2)
def _mnist_cpu(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    folder = ensure_dataset("mnist")
    prefix = "train" if train else "t10k"
    images = _read_idx(folder / f"{prefix}-images-idx3-ubyte", 2051, 3)
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte", 2049, 1)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def mnist_tensors(train: bool = True, device: torch.device | str = "cpu"
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole MNIST split as ``(images, labels)``: uint8 ``(N, 28, 28)`` and int64 ``(N,)``.

    60,000 training or 10,000 test digits, moved to ``device`` in one transfer. This is the
    fast path for small data sets; ``mnist_dataset`` is the standard ``Dataset`` path.
    """
    images, labels = _mnist_cpu(bool(train))
    return images.to(device), labels.to(device)


MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel mean and std of the 60,000 training digits (scaled to [0, 1])


def mnist_normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 digits ``(N, 28, 28)`` → float ``(N, 1, 28, 28)`` with the training set's mean 0 and std 1."""
    return ((images.float() / 255 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


def mnist_dataset(train: bool = True, transform=None):
    """``torchvision.datasets.MNIST`` over the verified files (no download by torchvision)."""
    import torchvision

    folder = ensure_dataset("mnist")
    return torchvision.datasets.MNIST(str(folder.parents[1]), train=train, transform=transform,
                                      download=False)


# ---------------------------------------------------------------- Tiny ImageNet

def tiny_imagenet_dataset(split: str = "train", transform=None, root: Path | str | None = None):
    """An ``ImageFolder`` over ``<root>/<split>/<class>/*.JPEG``.

    ``root`` defaults to the verified 10-class Tiny ImageNet subset; pass any folder in the
    same layout (another Tiny ImageNet subset, Imagenette) to train on that instead.
    """
    import torchvision

    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    folder = Path(root) if root is not None else ensure_dataset("tiny-imagenet-10")
    if not (folder / split).is_dir():
        raise FileNotFoundError(f"{folder / split} does not exist; expected {folder}/{split}/<class>/*.JPEG")
    return torchvision.datasets.ImageFolder(str(folder / split), transform=transform)


def tiny_imagenet_tensors(split: str = "train", root: Path | str | None = None, size: int = 64
                          ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A whole ImageFolder split decoded once: uint8 images ``(N, 3, size, size)``, int64 labels, class folder names.

    Images are resized (shorter side) and centre-cropped to ``size``, so larger-image subsets such as Imagenette load
    too. For small subsets (5,000 images of 64×64 are 61 MB) this replaces per-epoch JPEG decoding by tensor indexing.
    """
    from torchvision.transforms import v2

    to_tensor = v2.Compose([v2.PILToTensor(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    dataset = tiny_imagenet_dataset(split, transform=lambda image: to_tensor(image.convert("RGB")), root=root)
    if len(dataset) == 0:
        raise ValueError(f"{dataset.root} holds no images")
    images = torch.stack([image for image, _ in dataset])
    return images, torch.tensor(dataset.targets), list(dataset.classes)


def tiny_imagenet_class_names(root: Path | str | None = None) -> dict[str, str]:
    """``{wnid: short name}`` from ``classes.tsv`` (the first of its comma-separated names); ``{}`` if there is none."""
    folder = Path(root) if root is not None else ensure_dataset("tiny-imagenet-10")
    names = {}
    if not (folder / "classes.tsv").exists():
        return names
    for line in (folder / "classes.tsv").read_text().splitlines():
        wnid, words = line.split("\t", 1)
        names[wnid] = words.split(",")[0].strip()
    return names


# ---------------------------------------------------------------- translation

def translation_pairs(path: Path | str | None = None) -> list[tuple[str, str]]:
    """English-French sentence pairs ``[(english, french), ...]`` from a Tatoeba-format file.

    Lines are ``english<TAB>french[<TAB>attribution]``; the default file is the verified
    5,000-pair course set.
    """
    path = Path(path) if path is not None else ensure_dataset("eng-fra") / "eng-fra.txt"
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: expected 'english<TAB>french', got {line!r}")
        pairs.append((fields[0], fields[1]))
    return pairs
