"""utils.speech: decoding, error rates, sequence building and the models' shapes, on small hand-made inputs."""
import pytest
import torch

from utils.data.fsdd import SpokenDigits
from utils.speech import (BLANK, CTCRecogniser, LogMel, ctc_greedy_decode, digit_cnn, digit_error_rate,
                          digit_sequences, edit_distance, fit_length, pad_batch, random_shift)


@pytest.mark.parametrize("a, b, d", [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("abc", "abc", 0),
                                     ("flaw", "lawn", 2), ("1234", "1324", 2)])
def test_edit_distance_known_cases(a, b, d):
    encode = [ord(c) for c in a], [ord(c) for c in b]
    assert edit_distance(*encode) == edit_distance(*reversed(encode)) == d


def test_digit_error_rate_pools_errors_over_references():
    hyps = [torch.tensor([1, 2, 3]), torch.tensor([4])]
    refs = [torch.tensor([1, 2, 3, 9]), torch.tensor([5, 6])]
    assert digit_error_rate(hyps, refs) == pytest.approx((1 + 2) / 6)


def test_ctc_greedy_decode_merges_repeats_then_drops_blanks():
    frames = torch.tensor([[3, 3, BLANK, 3, 7, 7, BLANK, BLANK, 1, 1], [5, 5, 5, 5, 5, 2, 2, 2, 2, 2]])
    log_probs = torch.nn.functional.one_hot(frames, 11).float().log()
    decoded = ctc_greedy_decode(log_probs, torch.tensor([10, 5]))
    assert [d.tolist() for d in decoded] == [[3, 3, 7, 1], [5]]  # row 2: only its first 5 frames count


def test_fit_length_centres_and_crops():
    x = torch.arange(1.0, 5.0)
    assert fit_length(x, 8).tolist() == [0, 0, 1, 2, 3, 4, 0, 0]
    assert fit_length(x, 7).tolist() == [0, 1, 2, 3, 4, 0, 0]
    assert fit_length(torch.arange(10.0), 4).tolist() == [3, 4, 5, 6]


def test_random_shift_moves_rows_and_fills_with_silence():
    batch = torch.zeros(50, 20)
    batch[:, 8:12] = torch.arange(1.0, 5.0)
    shifted = random_shift(batch, 3, torch.Generator().manual_seed(0))
    starts = (shifted > 0).float().argmax(dim=1)
    assert set(starts.tolist()) == set(range(5, 12))  # every shift in [-3, 3] occurs
    for row, start in zip(shifted, starts):
        assert row[start:start + 4].tolist() == [1, 2, 3, 4] and row.sum() == 10


def toy_pool() -> SpokenDigits:
    waves = tuple(torch.full((400 + 100 * d,), 0.1 * (d + 1)) for d in range(10))
    return SpokenDigits(waves, torch.arange(10), ("a",) * 10, torch.zeros(10, dtype=torch.long))


def test_digit_sequences_labels_lengths_and_noise():
    pool = toy_pool()
    waves, labels = digit_sequences(pool, 200, torch.Generator().manual_seed(0), gap_s=(0.1, 0.2), snr_db=(20, 20))
    assert {len(l) for l in labels} == {2, 3, 4, 5}
    for wave, label in zip(waves, labels):
        speech = sum(400 + 100 * int(d) for d in label)
        assert speech + 0.1 * 8000 * (len(label) + 1) - len(label) - 1 <= len(wave) <= speech + 0.2 * 8000 * (len(label) + 1)
    # the first gap is silence plus noise: its power is the speech power / 10^(SNR/10)
    label, wave = labels[0], waves[0]
    power = torch.cat([pool.waveforms[int(d)] for d in label]).square().mean()
    assert float(wave[:700].square().mean()) == pytest.approx(float(power) / 100, rel=0.2)


def test_logmel_statistics_standardise_training_frames():
    front = LogMel().fit_statistics([torch.randn(4000), torch.randn(3000) * 0.1])
    features = front(torch.randn(2, 4000))
    assert features.shape == (2, 40, 51)
    assert front.frames(torch.tensor(4000)) == 51
    both = torch.cat([front(torch.randn(4000) [None])[0], front(0.1 * torch.randn(3000)[None])[0]], dim=1)
    assert both.mean().abs() < 0.2 and (both.std() - 1).abs() < 0.2


def test_models_shapes():
    front = LogMel()
    assert digit_cnn(front)(torch.randn(3, 8000)).shape == (3, 10)
    model = CTCRecogniser(front, hidden=16).eval()
    waves, samples = pad_batch([torch.randn(8000), torch.randn(5000)])
    log_probs, lengths = model(waves, samples)
    assert lengths.tolist() == [26, 16] and log_probs.shape == (2, 26, 11)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(2, 26))
    # packing: how much padding follows an utterance does not change its outputs
    longer, _ = model(*pad_batch([torch.randn(12000), waves[1, :5000]]))
    torch.testing.assert_close(longer[1, :16], log_probs[1, :16], atol=1e-6, rtol=1e-6)
