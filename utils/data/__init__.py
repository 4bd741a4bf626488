"""The course data sets: MNIST, a 10-class Tiny ImageNet subset, and Tatoeba English-French pairs.

``from utils.data import mnist_tensors`` etc. Every file is checked against the project's manifest
``utils/data/SHA256SUMS`` before use. Sources, in order:

1. files already under the data root (``data/`` in the repository, or ``COURSE_DATA_ROOT``);
2. the offline mirror folder named by ``COURSE_DATA_MIRROR`` (same layout as the data root);
3. the official download.

Verification fails closed: only the manifest vouches for bytes (a file whose official source gives other
bytes than the mirror's copy gets a second line for the same path); a missing or empty manifest, or a data
set with no entries, is a ``ManifestError``. Every failure is a ``DataError`` whose message says what to do.

Adding a data set (one module per set, e.g. ``utils/data/fsdd.py``):

- pick its ``folder`` under the data root (and the mirror), e.g. ``"fsdd"``; every file of the set is a
  line ``<sha256>  <folder>/<relative path>`` in ``utils/data/SHA256SUMS`` (the manifest prefix is ``folder/``);
- write ``_download(root: Path, wanted: dict[str, frozenset[str]]) -> None``, the official download: unpack
  into ``with fetch_folder(root, name) as tmp:`` (a killed fetch's folder is removed next time;
  ``download_file`` verifies a checksum on the way) and put each wanted ``{relative path: accepted
  SHA-256s}`` in place with ``install_verified(src, root / rel, digests, move=True)``; let ``OSError`` /
  ``urllib.error.URLError`` through when offline (turned into the documented offline message);
- at import time ``register(DataSet(name, folder, _download))``; loaders call ``ensure_dataset(name)``,
  which returns ``root / folder`` with every manifest file present and verified (copied from the
  mirror, or downloaded, when missing or corrupt), and list the files with ``dataset_files(name)``
  (the manifest's list, so a stray file in the folder is never data);
- import the module and its public names at the end of this file (one line), so its set is
  registered and ``data/fetch.py`` and ``from utils.data import ...`` know it.

Shared machinery (``DataSet``, ``register``, ``ensure_dataset``, ``dataset_files``, ``install_verified``,
``download_file``, ``fetch_folder``, the error classes) lives in ``utils.data.core``.
"""
from utils.data.core import (
    DATASETS,
    CorruptDataError,
    CorruptDataWarning,
    DataError,
    DataSet,
    DataUnavailableError,
    ManifestError,
    data_root,
    dataset_files,
    download_file,
    ensure_dataset,
    fetch_folder,
    file_digest,
    install_verified,
    register,
)
from utils.data.mnist import MNIST_MEAN, MNIST_STD, mnist_dataset, mnist_normalise, mnist_tensors
from utils.data.tiny_imagenet import (
    TINY_IMAGENET_10,
    tiny_imagenet_class_names,
    tiny_imagenet_dataset,
    tiny_imagenet_subset_members,
    tiny_imagenet_tensors,
)
from utils.data.translation import translation_pairs
from utils.data.fsdd import FSDD_SAMPLE_RATE, FSDD_SPEAKERS, SpokenDigits, fsdd_recordings, parse_recording_name
