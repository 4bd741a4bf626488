"""A 10-class subset of Tiny ImageNet-200: 500 training and 50 validation 64×64 images per class."""
from __future__ import annotations

import os
import re
import warnings
import zipfile
from pathlib import Path

import torch
import torchvision

from utils.data.core import (
    CorruptDataWarning,
    DataSet,
    dataset_files,
    download_file,
    ensure_dataset,
    fetch_folder,
    file_digest,
    install_verified,
    register,
)


URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
# The 10 classes of the course subset, in the order of its classes.tsv.
TINY_IMAGENET_10 = ("n01443537", "n02279972", "n04146614", "n07873807", "n07749582",
                    "n04398044", "n01882714", "n01910747", "n04285008", "n07734744")
FOLDER = "tiny-imagenet-10"


def natural_key(name: str) -> list:
    """Sort key that orders ``x_2`` before ``x_10``."""
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
                       key=natural_key)
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


def _download(root: Path, wanted: dict[str, frozenset[str]]) -> None:
    archive_path = root / "tiny-imagenet-200.zip"
    if archive_path.exists() and file_digest(archive_path, "md5") != MD5:
        warnings.warn(f"{archive_path} is corrupt or truncated (MD5 mismatch); downloading it again.",
                      CorruptDataWarning, stacklevel=2)
        archive_path.unlink()
    if not archive_path.exists():
        print(f"Downloading {URL} (about 240 MB) to {archive_path} ...")
        download_file(URL, archive_path, md5=MD5)
    with zipfile.ZipFile(archive_path) as archive:
        members = tiny_imagenet_subset_members(archive, TINY_IMAGENET_10)
        words = dict(line.split("\t", 1) for line in archive.read("tiny-imagenet-200/words.txt")
                     .decode().splitlines())
        with fetch_folder(root, "tiny-imagenet-10") as tmp:
            for rel, digest in wanted.items():
                sub = rel[len(FOLDER) + 1:]
                extracted = Path(tmp) / sub
                extracted.parent.mkdir(parents=True, exist_ok=True)
                if sub == "classes.tsv":
                    extracted.write_text("".join(f"{w}\t{words[w]}\n" for w in TINY_IMAGENET_10))
                else:
                    extracted.write_bytes(archive.read(members[sub]))
                install_verified(extracted, root / rel, digest, move=True)


TINY_IMAGENET = register(DataSet("tiny-imagenet-10", FOLDER, _download))


class ListedImageFolder(torchvision.datasets.ImageFolder):
    """An ``ImageFolder`` of the given classes and files only (paths ``class/file`` relative to ``folder``)."""

    def __init__(self, folder: Path, classes: list[str], files: set[str], transform=None):
        self.listed_classes = classes
        super().__init__(str(folder), transform=transform,
                         is_valid_file=lambda path: os.path.relpath(path, folder).replace(os.sep, "/") in files)

    def find_classes(self, directory):
        return self.listed_classes, {name: i for i, name in enumerate(self.listed_classes)}


def tiny_imagenet_dataset(split: str = "train", transform=None, root: Path | str | None = None):
    """An ``ImageFolder`` over ``<root>/<split>/<class>/*.JPEG``.

    ``root`` defaults to the verified 10-class Tiny ImageNet subset, whose classes and images are the
    ones the manifest lists (a stray folder or file there is ignored); pass any folder in the same layout
    (another Tiny ImageNet subset, Imagenette) to train on all its class folders instead.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', not {split!r}")
    if root is not None:
        folder = Path(root)
        if not (folder / split).is_dir():
            raise FileNotFoundError(f"{folder / split} does not exist; expected {folder}/{split}/<class>/*.JPEG")
        return torchvision.datasets.ImageFolder(str(folder / split), transform=transform)
    folder = ensure_dataset("tiny-imagenet-10") / split
    files = {rel[len(split) + 1:] for rel in dataset_files("tiny-imagenet-10") if rel.startswith(split + "/")}
    classes = sorted({rel.split("/")[0] for rel in files})
    return ListedImageFolder(folder, classes, files, transform)


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
