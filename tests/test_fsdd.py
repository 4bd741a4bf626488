"""The FSDD data layer: every recording verified, the official split, speakers kept, bad files rejected.

The recordings come from the mirror named by COURSE_DATA_MIRROR (as in CI), or the data root if already there.
"""
import shutil
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

from utils.data import CorruptDataWarning, ensure_dataset, fsdd_recordings, parse_recording_name
from utils.data import fsdd
from utils.data.core import MANIFEST, CorruptDataError, DataUnavailableError, file_digest, read_manifest


@pytest.fixture(scope="module")
def recordings() -> Path:
    """The verified recordings folder in the default data root."""
    return ensure_dataset("fsdd") / "recordings"


def fresh_root(tmp_path, monkeypatch, mirror: Path | None) -> Path:
    root = tmp_path / "root"
    monkeypatch.setenv("COURSE_DATA_ROOT", str(root))
    if mirror is None:
        monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    else:
        monkeypatch.setenv("COURSE_DATA_MIRROR", str(mirror))
    return root


def copy_as_mirror(recordings: Path, mirror: Path) -> Path:
    shutil.copytree(recordings, mirror / "fsdd" / "recordings")
    return mirror


def test_manifest_lists_every_recording_once():
    entries = [path for path in read_manifest(MANIFEST) if path.startswith("fsdd/")]
    assert len(entries) == len(set(entries)) == 3000
    labels = {parse_recording_name(Path(path).name) for path in entries}
    assert labels == {(d, s, i) for d in range(10) for s in fsdd.FSDD_SPEAKERS for i in range(50)}


def test_every_recording_matches_its_checksum(recordings):
    manifest = read_manifest(MANIFEST)
    files = sorted(recordings.glob("*.wav"))
    assert len(files) == 3000
    assert all(file_digest(p) == manifest[f"fsdd/recordings/{p.name}"] for p in files)


def test_official_split_sizes_speakers_and_labels(recordings):
    train, test = fsdd_recordings("train"), fsdd_recordings("test")
    assert (len(train), len(test), len(fsdd_recordings("all"))) == (2700, 300, 3000)
    assert test.indices.max() == 4 and train.indices.min() == 5 and train.indices.max() == 49
    for split, per_speaker in ((train, 450), (test, 50)):
        assert sorted(set(split.speakers)) == sorted(fsdd.FSDD_SPEAKERS)
        assert torch.bincount(split.speaker_ids()).tolist() == [per_speaker] * 6
        assert torch.bincount(split.digits).tolist() == [per_speaker * 6 // 10] * 10
        assert split.sample_rate == 8000
    keys = {(int(d), s, int(i)) for d, s, i in zip(train.digits, train.speakers, train.indices)}
    assert not keys & {(int(d), s, int(i)) for d, s, i in zip(test.digits, test.speakers, test.indices)}
    waveform = test.waveforms[0]
    assert waveform.dtype == torch.float32 and waveform.dim() == 1 and 0 < waveform.abs().max() < 1
    with pytest.raises(ValueError, match="split must be"):
        fsdd_recordings("validation")


def test_subset_keeps_labels_aligned(recordings):
    test = fsdd_recordings("test")
    theo = test.subset(torch.tensor([s == "theo" for s in test.speakers]))
    assert len(theo) == 50 and set(theo.speakers) == {"theo"}
    i = test.speakers.index("theo")
    assert torch.equal(theo.waveforms[0], test.waveforms[i]) and theo.digits[0] == test.digits[i]


@pytest.mark.parametrize("bad", ["7_theo.wav", "x_theo_1.wav", "7_Theo_1.wav", "7_theo_1.mp3"])
def test_bad_recording_names_are_rejected(bad):
    with pytest.raises(ValueError, match="not an FSDD recording name"):
        parse_recording_name(bad)
    assert parse_recording_name("7_theo_12.wav") == (7, "theo", 12)


def test_corrupt_cached_recording_is_replaced_from_the_mirror(recordings, tmp_path, monkeypatch):
    root = fresh_root(tmp_path, monkeypatch, copy_as_mirror(recordings, tmp_path / "mirror"))
    folder = ensure_dataset("fsdd")
    victim = folder / "recordings" / "3_lucas_7.wav"
    good = victim.read_bytes()
    victim.write_bytes(good[:-100] + bytes(100))  # the last 100 bytes zeroed: same size, wrong content
    with pytest.warns(CorruptDataWarning, match="3_lucas_7.wav is corrupt"):
        ensure_dataset("fsdd")
    assert victim.read_bytes() == good and folder == root / "fsdd"


def test_corrupt_mirror_copy_is_rejected(recordings, tmp_path, monkeypatch):
    mirror = copy_as_mirror(recordings, tmp_path / "mirror")
    victim = mirror / "fsdd" / "recordings" / "0_george_0.wav"
    victim.write_bytes(victim.read_bytes()[:200])  # truncated
    root = fresh_root(tmp_path, monkeypatch, mirror)
    with pytest.raises(CorruptDataError, match="mirror's copy is bad.*0_george_0.wav"):
        ensure_dataset("fsdd")
    assert not (root / "fsdd" / "recordings" / "0_george_0.wav").exists()


def github_archive(recordings: Path, path: Path, corrupt: str | None = None) -> Path:
    """A zip in the layout of GitHub's archive of the pinned commit (ZIP_STORED: quick to write)."""
    prefix = f"free-spoken-digit-dataset-{fsdd.FSDD_COMMIT}/"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(prefix + "README.md", "Free Spoken Digit Dataset\n")
        for wav in sorted(recordings.glob("*.wav")):
            data = wav.read_bytes()
            archive.writestr(prefix + "recordings/" + wav.name, data[:-1] + b"\x01" if wav.name == corrupt else data)
    return path


def test_official_download_path_verifies_every_recording(recordings, tmp_path, monkeypatch):
    root = fresh_root(tmp_path, monkeypatch, mirror=None)
    monkeypatch.setattr(fsdd, "FSDD_URL", github_archive(recordings, tmp_path / "fsdd.zip").as_uri())
    folder = ensure_dataset("fsdd")
    assert len(list((folder / "recordings").glob("*.wav"))) == 3000
    assert [p.name for p in root.iterdir()] == ["fsdd"]  # no archive or temporary files left behind


def test_download_with_a_corrupt_recording_is_rejected(recordings, tmp_path, monkeypatch):
    root = fresh_root(tmp_path, monkeypatch, mirror=None)
    archive = github_archive(recordings, tmp_path / "fsdd.zip", corrupt="5_nicolas_30.wav")
    monkeypatch.setattr(fsdd, "FSDD_URL", archive.as_uri())
    with pytest.raises(CorruptDataError, match="5_nicolas_30.wav is corrupt"):
        ensure_dataset("fsdd")
    assert not (root / "fsdd" / "recordings" / "5_nicolas_30.wav").exists()


def test_offline_without_mirror_says_what_to_do(tmp_path, monkeypatch):
    fresh_root(tmp_path, monkeypatch, mirror=None)
    monkeypatch.setattr(fsdd, "FSDD_URL", (tmp_path / "nowhere.zip").as_uri())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataUnavailableError, match="COURSE_DATA_MIRROR"):
            ensure_dataset("fsdd")
