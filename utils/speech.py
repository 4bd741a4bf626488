"""Speech recognition on spoken digits (lecture 10): a log-mel front end as a module, the isolated-digit CNN,
connected-digit sequences, a CTC recogniser, greedy CTC decoding and the digit error rate.

Features come from ``utils.audio`` (``torch.stft`` + mel filterbank), so models take raw waveforms and run
unchanged on a GPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

from utils.audio import log_mel_spectrogram
from utils.reproducibility import seed_everything
from utils.training import History, TensorLoader, accuracy, fit

BLANK = 10  # CTC's blank symbol: digits are the classes 0-9, the blank is class 10


class LogMel(nn.Module):
    """Waveforms ``(B, samples)`` → standardised log-mel features ``(B, n_mels, frames)``.

    ``mean`` and ``std`` (one per mel band) are buffers set from training data with ``fit_statistics``.
    """

    def __init__(self, sample_rate: int = 8000, n_mels: int = 40, n_fft: int = 256, hop_length: int = 80):
        super().__init__()
        self.sample_rate, self.n_mels, self.n_fft, self.hop_length = sample_rate, n_mels, n_fft, hop_length
        self.register_buffer("mean", torch.zeros(n_mels, 1))
        self.register_buffer("std", torch.ones(n_mels, 1))

    def raw(self, waveforms: torch.Tensor) -> torch.Tensor:
        return log_mel_spectrogram(waveforms, self.sample_rate, self.n_fft, self.hop_length, self.n_mels)

    @torch.no_grad()
    def fit_statistics(self, waveforms: list[torch.Tensor]) -> LogMel:
        """Set ``mean``/``std`` per band from the frames of ``waveforms`` (training recordings only)."""
        frames = torch.cat([self.raw(w.to(self.mean.device)) for w in waveforms], dim=1)
        self.mean.copy_(frames.mean(dim=1, keepdim=True))
        self.std.copy_(frames.std(dim=1, keepdim=True))
        return self

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return (self.raw(waveforms) - self.mean) / self.std

    def frames(self, samples: torch.Tensor) -> torch.Tensor:
        """Number of feature frames of signals with ``samples`` samples (centred STFT)."""
        return samples // self.hop_length + 1


def fit_length(waveform: torch.Tensor, length: int) -> torch.Tensor:
    """Centre ``waveform`` in ``length`` samples: zero-pad both sides equally, or keep the central part."""
    excess = len(waveform) - length
    if excess >= 0:
        return waveform[excess // 2: excess // 2 + length]
    return F.pad(waveform, (-excess // 2, -excess - (-excess // 2)))


def random_shift(batch: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each row of ``(B, samples)`` by its own random whole number of samples in ``[-max_shift, max_shift]``,
    filling with zeros (silence): the word moves inside its window, nothing wraps around."""
    n, length = batch.shape
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 1), generator=generator).to(batch.device)
    index = offsets + torch.arange(length, device=batch.device)
    return F.pad(batch, (max_shift, max_shift)).gather(1, index)


def conv_block(channels_in: int, channels_out: int, kernel_size: int = 5, stride: int = 1) -> nn.Sequential:
    """Conv1d over time (mel bands are the input channels) → batch norm → ReLU."""
    return nn.Sequential(nn.Conv1d(channels_in, channels_out, kernel_size, stride, padding=kernel_size // 2),
                         nn.BatchNorm1d(channels_out), nn.ReLU())


def digit_cnn(front: LogMel, width: int = 64, dropout: float = 0.3) -> nn.Sequential:
    """Isolated digits: log-mel → three (conv, pool) stages and a conv over time → max over time → 10 logits."""
    return nn.Sequential(
        front,
        conv_block(front.n_mels, width), nn.MaxPool1d(2),
        conv_block(width, width), nn.MaxPool1d(2),
        conv_block(width, width), nn.MaxPool1d(2),
        conv_block(width, width, kernel_size=3),
        nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(width, 10),
    )


class CTCRecogniser(nn.Module):
    """Connected digits: log-mel → two convolutions over time (the second strided) → bidirectional GRU →
    per-frame log-probabilities over the 10 digits and the blank."""

    def __init__(self, front: LogMel, hidden: int = 64, stride: int = 4):
        super().__init__()
        self.front, self.stride = front, stride
        self.conv = nn.Sequential(conv_block(front.n_mels, hidden), conv_block(hidden, hidden, stride=stride))
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 11)

    def output_lengths(self, samples: torch.Tensor) -> torch.Tensor:
        return (self.front.frames(samples) - 1) // self.stride + 1

    def forward(self, waveforms: torch.Tensor, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-padded ``(B, max samples)`` and the true lengths → log-probs ``(B, T, 11)`` and frames per row."""
        h = self.conv(self.front(waveforms)).transpose(1, 2)
        lengths = self.output_lengths(samples)
        packed = pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=h.shape[1])
        return self.out(h).log_softmax(dim=-1), lengths


def digit_sequences(pool, n: int, generator: torch.Generator, digits: tuple[int, int] = (2, 5),
                    gap_s: tuple[float, float] = (0.05, 0.3), snr_db: tuple[float, float] = (10.0, 30.0)
                    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``n`` connected-digit utterances built from the recordings of ``pool`` (a ``SpokenDigits``).

    Each joins ``digits[0]``-``digits[1]`` random recordings with random silences of ``gap_s`` seconds
    (also before the first and after the last) and adds white noise at a random signal-to-noise ratio in
    ``snr_db`` (relative to the mean power of its recordings). Returns the waveforms and their digit labels.
    """
    rate, waves, labels = pool.sample_rate, [], []
    for _ in range(n):
        k = int(torch.randint(digits[0], digits[1] + 1, (1,), generator=generator))
        pick = torch.randint(0, len(pool), (k,), generator=generator).tolist()
        gaps = ((gap_s[0] + (gap_s[1] - gap_s[0]) * torch.rand(k + 1, generator=generator)) * rate).long()
        parts = [torch.zeros(int(gaps[0]))]
        for j, i in enumerate(pick):
            parts += [pool.waveforms[i], torch.zeros(int(gaps[j + 1]))]
        speech_power = torch.cat([pool.waveforms[i] for i in pick]).square().mean()
        snr = snr_db[0] + (snr_db[1] - snr_db[0]) * torch.rand((), generator=generator)
        clean = torch.cat(parts)
        noise = torch.randn(len(clean), generator=generator) * (speech_power / 10 ** (snr / 10)).sqrt()
        waves.append(clean + noise)
        labels.append(pool.digits[pick])
    return waves, labels


def pad_batch(waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad waveforms of different lengths into ``(B, max samples)``, with their lengths."""
    return pad_sequence(waves, batch_first=True), torch.tensor([len(w) for w in waves])


def ctc_greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = BLANK) -> list[torch.Tensor]:
    """Best class per frame, then merge repeats and drop blanks: ``a a _ a b b`` → ``a a b``."""
    decoded = []
    for frames, n in zip(log_probs.argmax(dim=-1), lengths.tolist()):
        merged = torch.unique_consecutive(frames[:n])
        decoded.append(merged[merged != blank].cpu())
    return decoded


def edit_distance(hypothesis, reference) -> int:
    """Levenshtein distance: fewest substitutions, insertions and deletions turning one sequence into the other."""
    hypothesis, reference = list(map(int, hypothesis)), list(map(int, reference))
    row = list(range(len(reference) + 1))
    for i, h in enumerate(hypothesis, start=1):
        diagonal, row[0] = row[0], i
        for j, r in enumerate(reference, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (h != r))
    return row[-1]


def digit_error_rate(hypotheses, references) -> float:
    """Total edit distance over total reference length (the word error rate, with digits as words)."""
    errors = sum(edit_distance(h, r) for h, r in zip(hypotheses, references, strict=True))
    return errors / sum(len(r) for r in references)


def train_digit_cnn(train, val=None, epochs: int = 12, width: int = 64, seed: int = 0, length: int = 8000,
                    max_shift: int = 2000, verbose: bool = True) -> tuple[nn.Sequential, History]:
    """The lecture's isolated-digit recipe: recordings centred in ``length`` samples, a random shift of up to
    ``max_shift`` samples per example and epoch, AdamW with a one-cycle schedule, label smoothing 0.1."""
    seed_everything(seed)
    x = torch.stack([fit_length(w, length) for w in train.waveforms])
    model = digit_cnn(LogMel(train.sample_rate).fit_statistics(list(x)), width)
    shifts = torch.Generator().manual_seed(seed)
    loader = TensorLoader(x, train.digits, 64, shuffle=True, seed=seed,
                          transform=lambda batch: random_shift(batch, max_shift, shifts))
    val_loader = None if val is None else TensorLoader(
        torch.stack([fit_length(w, length) for w in val.waveforms]), val.digits, 500)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=epochs * len(loader))
    history = fit(model, loader, nn.CrossEntropyLoss(label_smoothing=0.1), optimizer, epochs, val_data=val_loader,
                  metrics={"accuracy": accuracy}, scheduler=schedule, scheduler_every="batch", verbose=verbose)
    return model.eval(), history


@torch.no_grad()
def digit_accuracy(model: nn.Module, recordings, length: int = 8000) -> float:
    """Fraction of ``recordings`` (centred in ``length`` samples) whose digit ``model`` gets right."""
    model.eval()
    x = torch.stack([fit_length(w, length) for w in recordings.waveforms])
    return (model(x).argmax(dim=1) == recordings.digits).float().mean().item()
