"""English-French sentence pairs (Tatoeba): the 5,000 shortest pairs, for the translation lecture."""
from __future__ import annotations

import urllib.request
import zipfile
from pathlib import Path

from utils.data.core import (
    CorruptDataError,
    DataSet,
    DataUnavailableError,
    ensure_dataset,
    fetch_folder,
    file_digest,
    install_verified,
    register,
)

TUTORIAL_DATA_URL = "https://download.pytorch.org/tutorial/data.zip"
TRANSLATION_PAIRS = 5000


def _download(root: Path, wanted: dict[str, frozenset[str]]) -> None:
    # The tutorial zip has no published checksum, and its eng-fra.txt is an older, two-column export of
    # the same Tatoeba data, so the file derived from it differs from the mirror's copy: it is accepted
    # only if the manifest lists its SHA-256 as a second line for translation/eng-fra.txt.
    with fetch_folder(root, "eng-fra") as tmp:
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
        for rel, digests in wanted.items():
            derived = Path(tmp) / "eng-fra.txt"
            derived.write_text("\n".join(shortest) + "\n", encoding="utf-8")
            digest = file_digest(derived)
            if digest not in digests:
                raise DataUnavailableError(
                    f"the {TRANSLATION_PAIRS} pairs derived from {TUTORIAL_DATA_URL} have SHA-256 {digest}, which "
                    f"utils/data/SHA256SUMS does not list for {rel}: that download cannot be verified. Get the course's "
                    f"copy instead: point COURSE_DATA_MIRROR at the offline copies, or put eng-fra.txt into "
                    f"{root / rel} (data/README.md says where it comes from).")
            install_verified(derived, root / rel, digests, move=True)


ENG_FRA = register(DataSet("eng-fra", "translation", _download))


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
