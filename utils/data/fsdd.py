"""The Free Spoken Digit Dataset (FSDD): 3,000 recordings of the digits 0-9, 6 speakers, mono 8 kHz WAV.

Z. Jackson et al., github.com/Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0. The course pins commit
26eb9aa (the recordings of its ``master``; the tag v1.0.9 differs in 500 files). Files are named
``recordings/{digit}_{speaker}_{index}.wav`` with ``index`` 0-49; the data set's official split puts indices
0-4 of every digit and speaker in the test set (300 recordings) and 5-49 in the training set (2,700).
"""
from __future__ import annotations

import re
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from utils.audio import read_wav
from utils.data.core import CorruptDataError, DataSet, ensure_dataset, install_verified, register

FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FSDD_URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{FSDD_COMMIT}.zip"
FSDD_SAMPLE_RATE = 8000
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_TEST_INDICES = range(5)  # the official split: recordings 0-4 of each digit and speaker are test
_NAME = re.compile(r"(\d)_([a-z]+)_(\d+)\.wav")


def _download(root: Path, wanted: dict[str, str]) -> None:
    # GitHub's archive has no published checksum (its bytes are not guaranteed stable); zip's CRC-32 guards
    # the transfer and every recording is installed only if its SHA-256 matches the manifest.
    with tempfile.TemporaryDirectory(dir=root, prefix=".fsdd-") as tmp:
        zip_path = Path(tmp) / "fsdd.zip"
        print(f"Downloading {FSDD_URL} (about 20 MB) ...")
        request = urllib.request.Request(FSDD_URL, headers={"User-Agent": "dl-course-data/0.1"})
        with urllib.request.urlopen(request, timeout=60) as response, open(zip_path, "wb") as out:
            shutil.copyfileobj(response, out)
        try:
            archive = zipfile.ZipFile(zip_path)
        except zipfile.BadZipFile as err:
            raise CorruptDataError(f"{FSDD_URL} did not arrive as a zip archive ({err}); try again.") from None
        with archive:
            if archive.testzip() is not None:
                raise CorruptDataError(f"{FSDD_URL} arrived corrupt; try again.")
            prefix = f"free-spoken-digit-dataset-{FSDD_COMMIT}/recordings/"
            for rel, digest in wanted.items():
                member = prefix + Path(rel).name
                try:
                    data = archive.read(member)
                except KeyError:
                    raise CorruptDataError(f"{FSDD_URL} has no {member}; is the pinned commit still there?") from None
                extracted = Path(tmp) / Path(rel).name
                extracted.write_bytes(data)
                install_verified(extracted, root / rel, digest, move=True)


FSDD = register(DataSet("fsdd", "fsdd", _download))


def parse_recording_name(name: str) -> tuple[int, str, int]:
    """``"7_theo_12.wav"`` → ``(7, "theo", 12)``: digit, speaker, index of the take."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not an FSDD recording name '<digit>_<speaker>_<index>.wav'")
    return int(match[1]), match[2], int(match[3])


@dataclass(frozen=True)
class SpokenDigits:
    """Recordings with their labels: ``waveforms[i]`` (float32, in [-1, 1)) is ``digits[i]`` said by
    ``speakers[i]`` (take ``indices[i]``), sampled at ``sample_rate`` Hz. Recordings differ in length."""

    waveforms: tuple[torch.Tensor, ...]
    digits: torch.Tensor
    speakers: tuple[str, ...]
    indices: torch.Tensor
    sample_rate: int = FSDD_SAMPLE_RATE

    def __len__(self) -> int:
        return len(self.waveforms)

    def speaker_ids(self) -> torch.Tensor:
        """Speakers as integers, positions in ``FSDD_SPEAKERS``."""
        return torch.tensor([FSDD_SPEAKERS.index(s) for s in self.speakers])

    def subset(self, mask: torch.Tensor) -> SpokenDigits:
        """The recordings where the boolean ``mask`` is true (e.g. ``d.subset(d.indices >= 10)``)."""
        keep = torch.as_tensor(mask).nonzero().flatten().tolist()
        return SpokenDigits(tuple(self.waveforms[i] for i in keep), self.digits[keep],
                            tuple(self.speakers[i] for i in keep), self.indices[keep], self.sample_rate)


@lru_cache(maxsize=1)
def _all_recordings() -> SpokenDigits:
    folder = ensure_dataset("fsdd") / "recordings"
    labelled = sorted((parse_recording_name(p.name), p) for p in folder.glob("*.wav"))
    waveforms = []
    for (_, speaker, _), path in labelled:
        waveform, rate = read_wav(path)
        if rate != FSDD_SAMPLE_RATE:
            raise CorruptDataError(f"{path} is sampled at {rate} Hz, FSDD recordings at {FSDD_SAMPLE_RATE} Hz.")
        waveforms.append(waveform)
    return SpokenDigits(tuple(waveforms), torch.tensor([label[0] for label, _ in labelled]),
                        tuple(label[1] for label, _ in labelled), torch.tensor([label[2] for label, _ in labelled]))


def fsdd_recordings(split: str = "train") -> SpokenDigits:
    """The verified FSDD recordings of the official ``"train"`` split (2,700), ``"test"`` (300) or ``"all"``."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}")
    recordings = _all_recordings()
    if split == "all":
        return recordings
    is_test = recordings.indices < len(FSDD_TEST_INDICES)
    return recordings.subset(is_test if split == "test" else ~is_test)
