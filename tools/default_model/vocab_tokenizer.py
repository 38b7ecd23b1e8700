"""The default model's tokenizer: a word-level tokenizer.json made with the `tokenizers` package.

Word-level on purpose: the model was trained on a closed vocabulary (clips.VOCABULARY), so any
other word maps to `<|unk|>`, which the engine reports back to the user ("unknown words: ...")
instead of feeding the model byte pieces it never saw. Layout otherwise follows CLIP's:
`<|startoftext|> words <|endoftext|>`, padded with `<|endoftext|>` by the engine.
"""

from __future__ import annotations

import os

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

BOS, EOS, UNK = "<|startoftext|>", "<|endoftext|>", "<|unk|>"


def build(words: list[str]) -> Tokenizer:
    vocab = {BOS: 0, EOS: 1, UNK: 2}
    for w in [",", "."] + sorted(set(words)):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # NFKC folds full-width letters etc.; lowercase makes "Red Ball" = "red ball".
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # words, and runs of punctuation
    tok.add_special_tokens([BOS, EOS, UNK])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])]
    )
    tok.no_padding()
    tok.no_truncation()
    return tok


def save(tok: Tokenizer, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tok.save(path, pretty=True)


def encode_batch(tok: Tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """Ids padded with EOS / truncated to max_length exactly as the engine does."""
    eos = tok.token_to_id(EOS)
    out = []
    for enc in tok.encode_batch(texts):
        ids = enc.ids[:max_length]
        out.append(ids + [eos] * (max_length - len(ids)))
    return out
