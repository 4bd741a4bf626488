"""Sequence-to-sequence translation: tokens, vocabularies, padded batches and an attention GRU.

The model is an encoder-decoder GRU with Luong ("general") attention. Padding is masked in
two places: the encoder packs sequences so padded steps never enter the recurrence, and the
attention gives padded source positions zero weight. With teacher forcing the decoder reads
the whole reference prefix at once, so training runs one GRU call per batch; decoding feeds
back the model's own predictions one step at a time (greedy or beam search).
"""
from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import sacrebleu
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")

# A word with its elision apostrophe ("J'", "qu'"), a hyphenated clitic ("-le", "-vous"), a
# word, or one punctuation mark. Splitting these keeps the French vocabulary small.
_TOKEN = re.compile(r"-?\w+['’]|-\w+|\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Split a sentence into word and punctuation tokens (case is kept)."""
    return _TOKEN.findall(text)


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens into a sentence: elisions and hyphenated clitics are re-attached."""
    text = " ".join(tokens)
    text = re.sub(r"(\w['’]) ", r"\1", text)
    text = re.sub(r" (-\w)", r"\1", text)
    return re.sub(r" ([.,])", r"\1", text)


class Vocabulary:
    """Token ↔ index table with the four special tokens at indices 0-3."""

    def __init__(self, tokens: Iterable[str]):
        self.itos = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        self.stoi = {token: index for index, token in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> Vocabulary:
        """Vocabulary of every token seen at least ``min_count`` times, most frequent first."""
        counts = Counter(token for sentence in sentences for token in sentence)
        return cls(t for t, c in sorted(counts.items(), key=lambda tc: (-tc[1], tc[0]))
                   if c >= min_count)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Indices of ``tokens`` followed by ``<eos>``; unknown tokens become ``<unk>``."""
        return [self.stoi.get(token, UNK) for token in tokens] + [EOS]

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Tokens up to (not including) the first ``<eos>``; ``<bos>``/``<pad>`` are dropped."""
        tokens = []
        for index in indices:
            index = int(index)
            if index == EOS:
                break
            if index not in (PAD, BOS):
                tokens.append(self.itos[index])
        return tokens


def split_by_source(pairs: Sequence[tuple[str, str]], test_fraction: float, seed: int = 0
                    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split pairs so that no source sentence appears on both sides (all its translations move together)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    sources = sorted({source for source, _ in pairs})
    random.Random(seed).shuffle(sources)
    test_sources = set(sources[:round(test_fraction * len(sources))])
    train = [pair for pair in pairs if pair[0] not in test_sources]
    test = [pair for pair in pairs if pair[0] in test_sources]
    return train, test


def references_by_source(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Every target sentence of each source sentence, in first-seen order."""
    references: dict[str, list[str]] = defaultdict(list)
    for source, target in pairs:
        references[source].append(target)
    return dict(references)


def corpus_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """sacrebleu corpus BLEU and chrF, each hypothesis scored against all of its references."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    depth = max(len(refs) for refs in references)
    # sacrebleu wants one stream per reference slot; None marks a missing reference.
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(depth)]
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, streams).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, streams).score}


def pad_batch(sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """A (batch, longest) tensor padded with ``PAD`` and the true lengths."""
    lengths = torch.tensor([len(s) for s in sequences])
    batch = torch.full((len(sequences), int(lengths.max())), PAD, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        batch[row, :len(sequence)] = torch.as_tensor(sequence)
    return batch, lengths


class Seq2SeqGRU(nn.Module):
    """Bidirectional GRU encoder, GRU decoder with Luong general attention.

    ``forward(src, src_lengths, tgt_in)`` returns logits (batch, tgt_len, tgt_vocab) and the
    attention weights (batch, tgt_len, src_len); padded source positions get weight 0.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, embed: int = 256, hidden: int = 256,
                 dropout: float = 0.2):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, embed, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed, padding_idx=PAD)
        self.encoder = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.decoder = nn.GRU(embed, hidden, batch_first=True)
        self.score = nn.Linear(2 * hidden, hidden, bias=False)
        self.combine = nn.Linear(3 * hidden, hidden)
        self.out = nn.Linear(hidden, tgt_vocab)
        self.dropout = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder states (batch, src_len, 2·hidden), their keys for attention, decoder's first state."""
        embedded = self.dropout(self.src_embed(src))
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        states, last = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=src.shape[1])
        first = torch.tanh(self.bridge(torch.cat([last[0], last[1]], dim=1))).unsqueeze(0)
        return states, self.score(states), first

    def decode_steps(self, tgt_in: torch.Tensor, hidden: torch.Tensor, states: torch.Tensor,
                     keys: torch.Tensor, src_mask: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits and attention for the target tokens ``tgt_in`` (batch, steps), and the new state."""
        outputs, hidden = self.decoder(self.dropout(self.tgt_embed(tgt_in)), hidden)
        scores = outputs @ keys.transpose(1, 2)                      # (batch, steps, src_len)
        scores = scores.masked_fill(~src_mask.unsqueeze(1), float("-inf"))
        attention = scores.softmax(dim=-1)
        context = attention @ states                                  # (batch, steps, 2·hidden)
        combined = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))
        return self.out(self.dropout(combined)), attention, hidden

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        states, keys, hidden = self.encode(src, src_lengths)
        logits, attention, _ = self.decode_steps(tgt_in, hidden, states, keys, src != PAD)
        return logits, attention

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int = 20
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: token ids (batch, ≤ max_len) and attention (batch, ≤ max_len, src_len).

        Rows that have produced ``<eos>`` keep emitting ``<pad>``.
        """
        states, keys, hidden = self.encode(src, src_lengths)
        mask = src != PAD
        token = torch.full((len(src), 1), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        tokens, attentions = [], []
        for _ in range(max_len):
            logits, attention, hidden = self.decode_steps(token, hidden, states, keys, mask)
            token = logits.argmax(dim=-1)
            token = token.masked_fill(done.unsqueeze(1), PAD)
            tokens.append(token)
            attentions.append(attention)
            done |= token.squeeze(1) == EOS
            if done.all():
                break
        return torch.cat(tokens, dim=1), torch.cat(attentions, dim=1)

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, src_length: int, beam: int = 4, max_len: int = 20,
                    length_penalty: float = 1.0) -> list[int]:
        """Beam search for one sentence ``src`` (1-D ids); returns the best token ids (no ``<eos>``).

        Finished hypotheses are ranked by log-probability / length**``length_penalty``.
        """
        states, keys, hidden = self.encode(src.unsqueeze(0), torch.tensor([src_length]))
        mask = (src != PAD).unsqueeze(0)
        live = [(0.0, [BOS], hidden)]
        finished: list[tuple[float, list[int]]] = []
        for _ in range(max_len):
            tokens = torch.tensor([[seq[-1]] for _, seq, _ in live], device=src.device)
            hiddens = torch.cat([h for _, _, h in live], dim=1)
            n = len(live)
            logits, _, new_hidden = self.decode_steps(
                tokens, hiddens, states.expand(n, -1, -1), keys.expand(n, -1, -1), mask.expand(n, -1))
            log_probs = logits[:, -1].log_softmax(dim=-1)
            candidates = []
            for i, (score, seq, _) in enumerate(live):
                top = log_probs[i].topk(beam)
                for lp, token in zip(top.values.tolist(), top.indices.tolist()):
                    candidates.append((score + lp, seq + [token], new_hidden[:, i:i + 1]))
            candidates.sort(key=lambda c: c[0], reverse=True)
            live = []
            for score, seq, h in candidates:
                if seq[-1] == EOS:
                    finished.append((score / (len(seq) - 1) ** length_penalty, seq[1:-1]))
                else:
                    live.append((score, seq, h))
                if len(live) == beam:
                    break
            if not live or len(finished) >= beam:
                break
        finished.extend((score / len(seq[1:]) ** length_penalty, seq[1:]) for score, seq, _ in live)
        return max(finished, key=lambda f: f[0])[1]
