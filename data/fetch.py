"""Fetch and verify the course data sets into the data root.

    python data/fetch.py                 # all data sets
    python data/fetch.py mnist eng-fra   # some of them
    python data/fetch.py --keep-going    # report failures, exit 0 (used by `make demo`)

Sources in order: files already there, the folder named by COURSE_DATA_MIRROR, the official
download. Every file is checked against utils/data/SHA256SUMS; a failure is one message saying what to do.
"""
from __future__ import annotations

import argparse
import sys

from utils.data import DATASETS, DataError, data_root, ensure_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", choices=[[], *DATASETS], default=[], metavar="NAME",
                        help=f"data sets to fetch (default: all of {', '.join(DATASETS)})")
    parser.add_argument("--keep-going", action="store_true",
                        help="report a data set that cannot be fetched and carry on, exiting 0")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.names or DATASETS:
        try:
            folder = ensure_dataset(name)
            print(f"{name}: ok ({folder})")
        except DataError as err:
            failed += 1
            print(f"{name}: NOT AVAILABLE\n  " + str(err).replace("\n", "\n  "), file=sys.stderr)
    print(f"data root: {data_root()}")
    return 0 if args.keep_going or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
