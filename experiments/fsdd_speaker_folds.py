"""Speaker-independent isolated-digit accuracy on FSDD: train on five speakers, test on the sixth, all six folds.

    COURSE_DATA_MIRROR=../shared/data OMP_NUM_THREADS=1 python experiments/fsdd_speaker_folds.py

The recipe is lecture 10's (utils.speech.train_digit_cnn). Per fold: the official training recordings (takes
5-49) of the five training speakers, their takes 5-9 held out as validation (used for nothing but the report),
and all 500 recordings of the held-out speaker as test. Also the speaker-dependent accuracy on the official test
split for several seeds (robustness of the notebook's headline). Writes utils/results/fsdd_speaker_folds.json.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from utils.data import FSDD_SPEAKERS, fsdd_recordings
from utils.speech import digit_accuracy, train_digit_cnn

OUT = Path(__file__).resolve().parents[1] / "utils" / "results" / "fsdd_speaker_folds.json"
SEEDS = (0, 1, 2, 3, 4)


def main() -> None:
    torch.set_num_threads(1)
    everything, train = fsdd_recordings("all"), fsdd_recordings("train")
    result = {"recipe": "utils.speech.train_digit_cnn defaults (12 epochs, width 64)", "folds": {}, "seeds": {}}
    for speaker in FSDD_SPEAKERS:
        is_speaker = torch.tensor([s == speaker for s in train.speakers])
        others = train.subset(~is_speaker)
        started = time.process_time()
        model, history = train_digit_cnn(others.subset(others.indices >= 10), others.subset(others.indices < 10),
                                         seed=0, verbose=False)
        held_out = everything.subset(torch.tensor([s == speaker for s in everything.speakers]))
        result["folds"][speaker] = {"test_accuracy": digit_accuracy(model, held_out),
                                    "val_accuracy": history.last["val_accuracy"],
                                    "cpu_seconds": time.process_time() - started}
        print(speaker, result["folds"][speaker], flush=True)
        OUT.write_text(json.dumps(result, indent=1) + "\n")  # saved as it goes: the folds come first
    val, rest = train.subset(train.indices < 10), train.subset(train.indices >= 10)
    for seed in SEEDS:
        started = time.process_time()
        model, history = train_digit_cnn(rest, val, seed=seed, verbose=False)
        result["seeds"][str(seed)] = {"test_accuracy": digit_accuracy(model, fsdd_recordings("test")),
                                      "val_accuracy": history.last["val_accuracy"],
                                      "cpu_seconds": time.process_time() - started}
        print("seed", seed, result["seeds"][str(seed)], flush=True)
        OUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
