"""Audio features with PyTorch alone: WAV reading, the short-time Fourier transform, a mel filterbank, log-mel.

``torchaudio`` has no build for the course's pinned torch, and the features are short enough to write and test
here: ``power_spectrogram`` wraps ``torch.stft`` (checked against NumPy's FFT), ``mel_filterbank`` builds the HTK
triangular filters (checked against ``librosa.filters.mel``), ``log_mel_spectrogram`` chains them. Everything works
on batches ``(..., samples)`` and on any device, so features can be computed on the GPU next to the model.
"""
from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import torch


def read_wav(path: Path | str) -> tuple[torch.Tensor, int]:
    """A mono 16-bit PCM WAV file as ``(waveform, sample_rate)``, the waveform float32 in [-1, 1)."""
    try:
        with wave.open(str(path), "rb") as file:
            channels, width, rate = file.getnchannels(), file.getsampwidth(), file.getframerate()
            frames = file.readframes(file.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(f"{path} is not a readable WAV file ({err}); delete it and fetch it again.") from err
    if channels != 1 or width != 2:
        raise ValueError(f"{path}: expected mono 16-bit PCM, found {channels} channel(s) of {8 * width} bits.")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return torch.from_numpy(samples), rate


def hz_to_mel(frequency):
    """HTK mel scale: ``2595 log10(1 + f / 700)``; 1000 Hz is 1000 mel (works on floats and tensors)."""
    if isinstance(frequency, torch.Tensor):
        return 2595.0 * torch.log10(1.0 + frequency / 700.0)
    return 2595.0 * math.log10(1.0 + frequency / 700.0)


def mel_to_hz(mel):
    """Inverse of ``hz_to_mel``: ``700 (10^(m / 2595) - 1)``."""
    if isinstance(mel, torch.Tensor):
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(n_fft: int, sample_rate: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Triangular filters ``(n_mels, n_fft // 2 + 1)`` with centres equally spaced on the HTK mel scale.

    Filter ``m`` rises linearly from centre ``m - 1`` to centre ``m`` and falls to centre ``m + 1`` (peak 1, no
    area normalisation), the construction of HTK and of ``librosa.filters.mel(htk=True, norm=None)``.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={f_min}, f_max={f_max}, "
                         f"sample_rate={sample_rate}")
    fft_freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mels = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2, dtype=torch.float64)
    edges = mel_to_hz(mels)  # n_mels + 2 corner frequencies in Hz
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (fft_freqs - lower) / (centre - lower)
    falling = (upper - fft_freqs) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0).to(dtype)


def power_spectrogram(waveform: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """``|STFT|^2`` with a periodic Hann window of ``n_fft`` samples: ``(..., n_fft // 2 + 1, frames)``.

    Frames are centred (the signal is reflect-padded by ``n_fft // 2`` at both ends), so frame ``t`` is centred
    on sample ``t * hop_length``.
    """
    shape = waveform.shape
    window = torch.hann_window(n_fft, dtype=waveform.dtype, device=waveform.device)
    spectrum = torch.stft(waveform.reshape(-1, shape[-1]), n_fft, hop_length, window=window, center=True,
                          pad_mode="reflect", return_complex=True)
    return spectrum.abs().square().reshape(*shape[:-1], *spectrum.shape[-2:])


def log_mel_spectrogram(waveform: torch.Tensor, sample_rate: int, n_fft: int = 256, hop_length: int = 80,
                        n_mels: int = 40, floor: float = 1e-6) -> torch.Tensor:
    """``log(mel filterbank @ power spectrogram + floor)``: ``(..., n_mels, frames)``.

    The defaults at 8 kHz: 32 ms windows every 10 ms, 40 mel bands up to the Nyquist frequency of 4 kHz.
    ``floor`` keeps digital silence finite (its log is ``log(floor)`` instead of minus infinity).
    """
    fbank = mel_filterbank(n_fft, sample_rate, n_mels, dtype=waveform.dtype).to(waveform.device)
    power = power_spectrogram(waveform, n_fft, hop_length)
    return torch.log(torch.matmul(fbank, power) + floor)
