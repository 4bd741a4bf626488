import pytest
import sacrebleu
import torch
import torch.nn.functional as F

from utils.translation import (BOS, EOS, PAD, UNK, Seq2SeqGRU, Vocabulary, corpus_scores,
                               detokenize, pad_batch, references_by_source, split_by_source,
                               tokenize)


@pytest.mark.parametrize("sentence, tokens", [
    ("J'imagine que non.", ["J'", "imagine", "que", "non", "."]),
    ("Laissez-le partir !", ["Laissez", "-le", "partir", "!"]),
    ("Qu'est-ce que c'est ?", ["Qu'", "est", "-ce", "que", "c'", "est", "?"]),
    ("I'm so happy.", ["I'", "m", "so", "happy", "."]),
    ("Hi, Tom.", ["Hi", ",", "Tom", "."]),
    ("Va-t'en !", ["Va", "-t'", "en", "!"]),
])
def test_tokenize_and_detokenize_round_trip(sentence, tokens):
    assert tokenize(sentence) == tokens
    assert detokenize(tokens) == sentence


def test_vocabulary_specials_unknowns_and_eos():
    vocab = Vocabulary.build([["b", "a", "b"], ["c"]])
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocab.itos[4] == "b"                      # most frequent first
    assert vocab.encode(["a", "zzz"]) == [vocab.stoi["a"], UNK, EOS]
    assert vocab.decode([BOS, vocab.stoi["c"], PAD, EOS, vocab.stoi["a"]]) == ["c"]
    assert len(Vocabulary.build([["a", "b"]], min_count=2)) == 4


def test_split_by_source_keeps_every_translation_of_a_sentence_together():
    pairs = [(f"s{i % 40}", f"t{i}") for i in range(120)]
    train, test = split_by_source(pairs, 0.25, seed=3)
    assert sorted(train + test) == sorted(pairs)
    assert not {s for s, _ in train} & {s for s, _ in test}
    assert len({s for s, _ in test}) == 10
    assert split_by_source(pairs, 0.25, seed=3) == (train, test)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_by_source(pairs, 1.0)


def test_references_by_source_groups_in_order():
    assert references_by_source([("a", "x"), ("b", "y"), ("a", "z")]) == {"a": ["x", "z"], "b": ["y"]}


def test_corpus_scores_use_every_reference():
    hypotheses = ["Je suis gros.", "Va !"]
    references = [["Je suis gras.", "Je suis gros."], ["Va !"]]
    scores = corpus_scores(hypotheses, references)
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)
    # With one reference each, the result is sacrebleu's own single-reference score.
    single = corpus_scores(["Je suis grand.", "Va !"], [["Je suis gros."], ["Va !"]])
    expected = sacrebleu.corpus_bleu(["Je suis grand.", "Va !"], [["Je suis gros.", "Va !"]]).score
    assert single["bleu"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least one reference"):
        corpus_scores(["a"], [[]])


def test_pad_batch():
    batch, lengths = pad_batch([[5, 6, 7], [8]])
    assert batch.tolist() == [[5, 6, 7], [8, PAD, PAD]]
    assert lengths.tolist() == [3, 1]


def _model(seed=0):
    torch.manual_seed(seed)
    return Seq2SeqGRU(src_vocab=20, tgt_vocab=15, embed=8, hidden=6, dropout=0.0).double().eval()


def test_padding_changes_nothing():
    """A sentence alone and the same sentence padded inside a batch give identical outputs."""
    model = _model()
    long, short = [4, 5, 6, 7, EOS], [8, 9, EOS]
    src, lengths = pad_batch([long, short])
    tgt = torch.tensor([[BOS, 4, 5], [BOS, 6, 7]])
    logits, attention = model(src, lengths, tgt)
    alone, alone_attention = model(torch.tensor([short]), torch.tensor([3]), tgt[1:])
    torch.testing.assert_close(logits[1], alone[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(attention[1, :, :3], alone_attention[0], rtol=0, atol=1e-12)
    assert attention[1, :, 3:].abs().max() == 0                   # no weight on padding
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 3, dtype=torch.double))


def test_greedy_agrees_with_teacher_forcing_on_its_own_output():
    model = _model(1)
    src, lengths = pad_batch([[4, 5, 6, EOS], [7, EOS]])
    tokens, attention = model.greedy(src, lengths, max_len=6)
    assert attention.shape == (2, tokens.shape[1], 4)
    for row in range(2):
        out = tokens[row][tokens[row] != PAD]
        tgt_in = torch.cat([torch.tensor([BOS]), out[:-1]]).unsqueeze(0)
        logits, _ = model(src[row:row + 1, :lengths[row]], lengths[row:row + 1], tgt_in)
        assert torch.equal(logits.argmax(-1)[0], out)


def test_beam_of_one_is_greedy():
    model = _model(2)
    src = torch.tensor([4, 5, 6, EOS])
    greedy, _ = model.greedy(src.unsqueeze(0), torch.tensor([4]), max_len=6)
    expected = [t for t in greedy[0].tolist() if t not in (PAD, EOS)]
    assert model.beam_search(src, 4, beam=1, max_len=6) == expected


def test_learns_to_copy_short_sequences():
    torch.manual_seed(0)
    data = [torch.randint(4, 12, (int(n),)).tolist() + [EOS] for n in torch.randint(2, 5, (32,))]
    model = Seq2SeqGRU(12, 12, embed=32, hidden=32, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    src, lengths = pad_batch(data)
    tgt, _ = pad_batch([[BOS] + s for s in data])
    for _ in range(150):
        logits, _ = model(src, lengths, tgt[:, :-1])
        loss = F.cross_entropy(logits.transpose(1, 2), tgt[:, 1:], ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    tokens, _ = model.greedy(src, lengths, max_len=6)
    copied = sum(tokens[i, :len(s)].tolist() == s for i, s in enumerate(data))
    assert copied == len(data), f"copied {copied} of {len(data)} sequences"
