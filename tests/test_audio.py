"""utils.audio against trusted references: NumPy's FFT for the STFT, librosa for the mel filterbank."""
import wave

import numpy as np
import pytest
import torch

from utils.audio import (hz_to_mel, log_mel_spectrogram, mel_filterbank, mel_to_hz, power_spectrogram,
                         read_wav)


def numpy_power_spectrogram(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """The textbook STFT: reflect-pad by n_fft/2, cut frames every hop samples, periodic Hann window, rfft."""
    padded = np.pad(x, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    starts = range(0, len(padded) - n_fft + 1, hop)
    frames = np.stack([padded[s:s + n_fft] * window for s in starts], axis=1)
    return np.abs(np.fft.rfft(frames, axis=0)) ** 2


@pytest.mark.parametrize("n_fft, hop, length", [(256, 80, 4000), (512, 128, 3001), (64, 64, 640)])
def test_power_spectrogram_matches_numpy(n_fft, hop, length):
    x = np.random.default_rng(0).standard_normal(length)
    ours = power_spectrogram(torch.from_numpy(x), n_fft, hop).numpy()
    reference = numpy_power_spectrogram(x, n_fft, hop)
    assert ours.shape == reference.shape == (n_fft // 2 + 1, 1 + length // hop)
    np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-10)


def test_power_spectrogram_keeps_batch_dimensions():
    x = torch.randn(2, 3, 1000, dtype=torch.float64)
    batched = power_spectrogram(x, 128, 40)
    assert batched.shape == (2, 3, 65, 26)
    torch.testing.assert_close(batched[1, 2], power_spectrogram(x[1, 2], 128, 40), rtol=0, atol=0)


def test_htk_mel_formula():
    assert hz_to_mel(0.0) == 0.0
    assert hz_to_mel(700.0) == pytest.approx(2595 * np.log10(2))
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.02)  # the scale's anchor: 1 kHz is about 1000 mel
    f = torch.linspace(0, 8000, 101, dtype=torch.float64)
    torch.testing.assert_close(mel_to_hz(hz_to_mel(f)), f)
    assert mel_to_hz(hz_to_mel(3000.0)) == pytest.approx(3000.0)


@pytest.mark.parametrize("sample_rate, n_fft, n_mels, f_min, f_max",
                         [(8000, 256, 40, 0.0, None), (16000, 512, 80, 20.0, 7600.0), (8000, 200, 23, 100.0, 3800.0)])
def test_mel_filterbank_matches_librosa(sample_rate, n_fft, n_mels, f_min, f_max):
    librosa = pytest.importorskip("librosa", reason="librosa is a pinned test dependency (requirements.txt)")
    ours = mel_filterbank(n_fft, sample_rate, n_mels, f_min, f_max, dtype=torch.float64).numpy()
    reference = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max,
                                    htk=True, norm=None, dtype=np.float64)
    assert ours.shape == reference.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)


def test_mel_filters_are_triangles_with_peaks_at_their_centres():
    sample_rate, n_fft, n_mels = 8000, 4096, 10  # a fine frequency grid, so each peak lands near a bin
    fbank = mel_filterbank(n_fft, sample_rate, n_mels, dtype=torch.float64)
    assert fbank.min() >= 0 and fbank.max() <= 1
    centres = mel_to_hz(torch.linspace(0, hz_to_mel(sample_rate / 2), n_mels + 2, dtype=torch.float64))[1:-1]
    bin_hz = sample_rate / n_fft
    torch.testing.assert_close(fbank.argmax(dim=1).double() * bin_hz, centres, rtol=0, atol=bin_hz)
    assert (fbank.max(dim=1).values > 0.99).all()


def test_mel_filterbank_rejects_bad_band():
    with pytest.raises(ValueError, match="f_max <= sample_rate / 2"):
        mel_filterbank(256, 8000, 40, f_max=5000.0)


def test_log_mel_puts_a_tone_in_the_band_around_its_frequency():
    sample_rate, n_mels = 8000, 40
    t = torch.arange(sample_rate, dtype=torch.float64) / sample_rate
    features = log_mel_spectrogram(torch.sin(2 * torch.pi * 1000 * t), sample_rate, n_mels=n_mels)
    assert features.shape == (n_mels, 101)
    centres = mel_to_hz(torch.linspace(0, hz_to_mel(4000.0), n_mels + 2, dtype=torch.float64))[1:-1]
    loudest = features[:, 50].argmax()
    assert abs(centres[loudest] - 1000) == (centres - 1000).abs().min()
    silence = log_mel_spectrogram(torch.zeros(800), sample_rate)
    torch.testing.assert_close(silence, torch.full_like(silence, np.log(1e-6)))


def write_wav(path, samples: np.ndarray, rate: int = 8000, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as file:
        file.setnchannels(channels)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.astype("<i2").tobytes())


def test_read_wav_round_trip(tmp_path):
    samples = np.array([0, 1, -1, 16384, -32768, 32767], dtype=np.int16)
    write_wav(tmp_path / "a.wav", samples)
    waveform, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and waveform.dtype == torch.float32
    torch.testing.assert_close(waveform, torch.from_numpy(samples / 32768.0).float())


def test_read_wav_rejects_garbage_and_stereo(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00not a wave file")
    with pytest.raises(ValueError, match="not a readable WAV file"):
        read_wav(tmp_path / "bad.wav")
    write_wav(tmp_path / "stereo.wav", np.zeros(20, dtype=np.int16), channels=2)
    with pytest.raises(ValueError, match="expected mono 16-bit PCM"):
        read_wav(tmp_path / "stereo.wav")
