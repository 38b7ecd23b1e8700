"""A CLIP-style byte-level BPE tokenizer built from scratch with the `tokenizers` package.

Layout mirrors OpenAI CLIP's `tokenizer.json` as converted by Hugging Face:
  normalizer      NFC, collapse whitespace, lowercase
  pre-tokenizer   CLIP's word regex (matches kept), then byte-level mapping without prefix space
  model           BPE, words end with the suffix "</w>", every single byte (with and without the
                  suffix) is in the vocabulary so no input is ever unknown
  post-processor  TemplateProcessing: <|startoftext|> $A <|endoftext|>
  decoder         "</w>" -> byte-level space, then byte-level (text ends with a space)
Ids: the 256 byte symbols, the 256 byte symbols + "</w>", the learned merges, and the two special
tokens last (as in CLIP, where they are 49406 / 49407).
"""

from __future__ import annotations

import os

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
SUFFIX = "</w>"

# CLIP's word-splitting pattern (without the special-token alternatives, which `tokenizers` handles
# as added tokens before pre-tokenization).
CLIP_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""

# A small built-in corpus: common English words plus colours, shapes, motion and scene words.
WORDS = """
a an the and or but of to in on at by for with from into onto over under above below between behind
beside near far through across along around up down out off away back again very slowly quickly
gently softly is are was were be being been has have had do does did it its this that these those
there here he she they we you i me my your our their his her them us one two three four five six
seven eight nine ten first second last many few some all each every more most less other another
same new old big small large little tiny huge tall short long wide narrow thick thin high low deep
shallow bright dark light heavy soft hard smooth rough warm cold hot cool wet dry clean dirty empty
full young ancient modern beautiful pretty ugly happy sad calm angry quiet loud fast slow strong weak
red orange yellow green blue purple violet pink brown black white gray grey silver gold golden cyan
magenta teal turquoise navy maroon beige crimson scarlet amber emerald ivory lavender colorful
colourful pastel neon vivid pale dim glowing shiny metallic transparent striped spotted
circle square triangle rectangle cube sphere ball box cone cylinder pyramid star heart ring line dot
spiral wave grid pattern shape disk plane curve arc hexagon oval diamond cross arrow
move moving moves moved run running runs walk walking walks jump jumping jumps fly flying flies
swim swimming swims fall falling falls rise rising rises spin spinning spins turn turning turns roll
rolling rolls bounce bouncing bounces slide sliding slides float floating floats drift drifting flow
flowing flows grow growing grows shrink shrinking melt melting explode exploding shake shaking dance
dancing dances rotate rotating zoom zooming pan panning orbit orbiting wave waving sway swaying
flicker flickering pulse pulsing fade fading blink blinking chase chasing race racing climb climbing
ride riding drive driving sail sailing glide gliding crawl crawling burn burning pour pouring splash
splashing
cat cats dog dogs bird birds fish horse horses cow sheep lion tiger bear wolf fox rabbit mouse duck
eagle owl butterfly bee snake frog turtle whale dolphin shark monkey elephant giraffe zebra panda
man woman person people child children boy girl baby friend family robot astronaut dragon ghost
car cars truck bus train plane boat ship bike bicycle rocket balloon kite clock lamp chair table bed
door window wall floor roof house home building city town street road bridge tower castle village
park garden forest tree trees flower flowers grass leaf leaves rock stone mountain mountains hill
valley river lake sea ocean beach sand desert island sky cloud clouds sun moon stars planet space
rain snow storm wind fire smoke water ice light shadow night day morning evening sunset sunrise
summer winter spring autumn field farm road path camera shot view scene video film movie frame
picture photo painting drawing cartoon animation style render detailed realistic cinematic
portrait landscape close wide aerial underwater inside outside background foreground center left
right top bottom middle side front edge corner
coffee tea cup bread cake apple orange banana food fruit music song book paper glass mirror
time world life hand hands face eye eyes head hair feet arm arms body smile voice heart mind
quality blurry blur noise noisy low resolution worst best good bad nice great amazing high sharp
""".split()


def _corpus_lines() -> list[str]:
    # Repeat earlier (more common) words more often so merges favour them; deterministic.
    lines = []
    n = len(WORDS)
    for i, w in enumerate(WORDS):
        reps = 1 + (3 * (n - i)) // n
        lines.extend([w] * reps)
    # A few phrases so punctuation and digits are seen as well.
    lines += ["a red ball, bouncing!", "2 cats and 3 dogs.", "it's a cat's toy", "high-quality video"]
    return lines


def _byte_table() -> list[str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, (chr(c) for c in cs)))
    return [table[b] for b in range(256)]


def _configure(tok: Tokenizer) -> None:
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    # "</w>" -> the byte-level space symbol, then bytes -> text. (BPEDecoder-then-ByteLevel breaks
    # multi-byte characters split across tokens; a Strip decoder would panic on empty input.)
    # Decoded text therefore ends with one space.
    tok.decoder = decoders.Sequence([decoders.Replace(SUFFIX, "\u0120"), decoders.ByteLevel()])


def _words_of_corpus() -> dict[str, int]:
    """Word -> count, with words split and byte-mapped exactly as the final tokenizer does."""
    tok = Tokenizer(models.BPE())
    _configure(tok)
    counts: dict[str, int] = {}
    for line in _corpus_lines():
        for word, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(line)):
            counts[word] = counts.get(word, 0) + 1
    return counts


def _learn_merges(word_counts: dict[str, int], n_merges: int) -> list[tuple[str, str]]:
    """Deterministic BPE: repeatedly merge the most frequent adjacent pair (ties: smallest text)."""
    words = [([*w[:-1], w[-1] + SUFFIX], c) for w, c in sorted(word_counts.items())]
    merges: list[tuple[str, str]] = []
    while len(merges) < n_merges:
        pairs: dict[tuple[str, str], int] = {}
        for syms, c in words:
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        merged = best[0] + best[1]
        for i, (syms, c) in enumerate(words):
            out, j = [], 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == best[0] and syms[j + 1] == best[1]:
                    out.append(merged)
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            words[i] = (out, c)
    return merges


def build_clip_tokenizer(vocab_size: int = 1000) -> Tokenizer:
    """Train merges on the built-in word list and return a complete tokenizer with `vocab_size` ids."""
    byte_syms = _byte_table()
    assert sorted(byte_syms) == sorted(pre_tokenizers.ByteLevel.alphabet())
    base = byte_syms + [s + SUFFIX for s in byte_syms]
    n_merges = vocab_size - len(base) - 2
    if n_merges <= 0:
        raise ValueError("vocab_size too small")

    # 1. learn merges. tokenizers' BpeTrainer breaks ties between equally frequent pairs in a
    #    run-dependent order, so the merges are learned here (classic BPE, ties broken by the
    #    pair's text) on words split by the tokenizer's own normalizer and pre-tokenizer.
    learned = _learn_merges(_words_of_corpus(), n_merges)

    # 2. the vocabulary: every byte symbol, then the merges in order, then the specials
    vocab: dict[str, int] = {}
    for s in base:
        vocab.setdefault(s, len(vocab))
    merges: list[tuple[str, str]] = []
    for a, b in learned:
        if len(merges) == n_merges:
            break
        if a not in vocab or b not in vocab:
            continue
        if a + b in vocab:
            continue
        vocab[a + b] = len(vocab)
        merges.append((a, b))
    if len(merges) < n_merges:
        raise RuntimeError(f"corpus too small: only {len(merges)} merges for {n_merges} wanted")
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)

    tok = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token=EOS, end_of_word_suffix=SUFFIX, fuse_unk=False)
    )
    _configure(tok)
    tok.add_special_tokens([BOS, EOS])
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}",
        pair=f"{BOS} $A {EOS} $B:1 {EOS}:1",
        special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])],
    )
    # No padding/truncation stored in the file (as in real CLIP files): callers pad/truncate.
    tok.no_padding()
    tok.no_truncation()
    return tok


def save_tokenizer(tok: Tokenizer, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tok.save(path, pretty=True)


def hf_fast_tokenizer(tokenizer_file: str, max_length: int):
    """Wrap the file for diffusers pipelines (transformers' fast tokenizer)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=tokenizer_file,
        model_max_length=max_length,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        padding_side="right",
        truncation_side="right",
    )
