#!/usr/bin/env python3
"""Build the T5/UMT5 tokenizer fixture and its parity cases (Wan 2.1's text path).

    /opt/ptools/bin/python tools/make_tokenizer_cases.py     (run from the repository root;
                                                              a few seconds, no network)

Writes:

    onnx/tests/data/tokenizer/t5/          a tiny SentencePiece Unigram tokenizer converted by
                                           transformers (tools/fixtures/t5_tokenizer.py)
    onnx/tests/data/tokenizer/t5_cases.json

Each case is `{"note", "raw", "cleaned", "ids", "attention_mask", "max_length"}`: `cleaned` is
diffusers' Wan `prompt_clean(raw)` and `ids`/`attention_mask` are what `WanPipeline.
_get_t5_prompt_embeds` gets from the tokenizer for it (padding="max_length", truncation=True,
add_special_tokens=True). `onnx/tests/tokenizer_t5.rs` checks the engine's `wan_prompt_clean`
and `PromptTokenizer::encode_with_length` against every case.

diffusers runs `ftfy.fix_text` first when ftfy is installed; the engine does not (ftfy is a
large heuristic library with no Rust port), so the cases are made without it and this script
refuses to run where ftfy is importable. Deterministic: the same package versions
(tools/requirements.txt) give the same files.
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fixtures.t5_tokenizer import save_tiny_t5_tokenizer  # noqa: E402

ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "onnx", "tests", "data", "tokenizer")

LONG = (
    "A golden retriever wearing tiny sunglasses surfs a huge turquoise wave at sunset, "
    "cinematic lighting, slow motion, spray glittering in the air, a crowd cheering on the "
    "beach, shot on 35mm film, highly detailed, vibrant colors, shallow depth of field"
)

# (note, raw text, max_length). Short lengths make truncation common; 64 leaves room for padding.
CASES = [
    ("empty prompt (the unconditional input)", "", 16),
    ("only spaces, tabs and newlines", "  \t \n\r\n  ", 16),
    ("plain prompt", "a red ball moving right on a black background", 16),
    ("plain prompt, padded", "a red ball moving right on a black background", 64),
    ("multiple spaces and tabs between words", "a   cat \t\t sleeping\n\n on   a  beach", 64),
    ("accents, precomposed", "café naïve Ångström résumé façade", 64),
    ("accents, combining characters (NFKC composes them)",
     "cafe\u0301 nai\u0308ve A\u030angstro\u0308m", 64),
    ("full-width letters and digits", "ＡＢＣ ｃａｔ １２３ ｆｐｓ", 64),
    ("ligatures and compatibility characters", "ﬁsh ﬂying ﬀ ½ ² ™ № Ⅻ", 64),
    ("unicode whitespace: no-break, em and ideographic spaces",
     "a\u00a0red\u2003ball\u3000moving\u2028right\u2029now\u0085ok", 64),
    ("whitespace that only str.strip() knows (U+001C..U+001F) and U+200B (neither)",
     "\x1c\x1d a\x1eb \x1fc\u200bd \x1f", 64),
    ("line tabulation, form feed, U+1680, U+202F, U+205F",
     "a\x0bb\x0cc\u1680d\u202fe\u205ff", 64),
    ("emoji: known and unknown", "🎬 a cat 🐱 on the moon 😀🚀 ✨", 64),
    ("CJK, Greek, Cyrillic (partly out of vocabulary)",
     "東京 夜景 猫 山 Αθήνα λάμδα привет мир", 64),
    ("words made of known characters but not whole pieces", "xylophone quizzical zephyr jukebox", 64),
    ("HTML named entities",
     "fish &amp; chips &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot; &apos;x&apos;", 64),
    ("double-escaped entity (unescaped twice)",
     "Tom &amp;amp; Jerry &amp;lt;3 &amp;#39;hi&amp;#39;", 64),
    ("numeric references",
     "it&#39;s &#x27;fine&#x27; &#X41;&#65;&#0065; &#x1F600; &#128512;", 64),
    ("&nbsp; becomes U+00A0, then a space", "a&nbsp;&nbsp;cat&nbsp;", 64),
    ("legacy entities without semicolon, longest prefix",
     "&copy 2024 &copy2024 &ampx &AMP &notit; &not &sup2 &frac12x", 64),
    ("invalid numeric references (windows-1252 remap, U+FFFD, removed)",
     "&#128; &#x80; &#x81; &#150; &#x9f; &#0; &#x110000; &#xD800; &#1; &#x0B;x &#xFDD0; &#xFFFE; "
     "&#99999999999;", 64),
    ("&#13; is a carriage return (whitespace)", "line&#13;&#10;break &#9;tab", 64),
    ("not references", "& ; &; &#; &#x; &#xg; && &unknown; &a; AT&T R&D 5 &lt 6", 64),
    ("two-code-point entities and names with digits",
     "&fjlig; &NotEqualTilde; &there4; &frac34; &blk14;", 64),
    ("entity name longer than 32 characters",
     "&CounterClockwiseContourIntegral; &ampabcdefghijklmnopqrstuvwxyz0123456789;", 64),
    ("entity made by the first unescape", "&amp;copy &amp;#x41; &amp&amp;", 64),
    ("surrounding whitespace and entity whitespace", " &#32; &#x20;a b&#9; ", 16),
    ("long prompt, truncated (keeps </s>)", LONG, 16),
    ("long prompt, truncated at 64", LONG + " " + LONG, 64),
    ("long prompt with entities and accents, truncated", "&quot;Café&quot; " * 12, 16),
    ("exactly max_length - 1 tokens before </s>", "a a a a a a a a a a a a a a a", 16),
    ("exactly max_length tokens before </s>", "a a a a a a a a a a a a a a a a", 16),
    # transformers matches special tokens written in the text (they become their ids), and the
    # truncation must still end with the template's own </s>.
    ("special tokens written in the text", "</s> <pad> <unk> a cat", 16),
    ("special tokens written in the text, truncated", "a cat </s> " * 6, 16),
]


def main() -> None:
    from diffusers.pipelines.wan import pipeline_wan
    from transformers import AutoTokenizer

    if pipeline_wan.is_ftfy_available():
        sys.exit("ftfy is installed: diffusers' prompt_clean would run ftfy.fix_text, which the "
                 "engine does not; make the cases in an environment without ftfy")

    tok_dir = os.path.join(OUT, "t5")
    save_tiny_t5_tokenizer(tok_dir)
    tok = AutoTokenizer.from_pretrained(tok_dir)

    cases = []
    for note, raw, max_length in CASES:
        cleaned = pipeline_wan.prompt_clean(raw)
        # Exactly WanPipeline._get_t5_prompt_embeds's call (one prompt, lists instead of tensors).
        enc = tok(
            cleaned,
            padding="max_length",
            max_length=max_length,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
        )
        ids, mask = list(enc["input_ids"]), list(enc["attention_mask"])
        assert len(ids) == max_length and len(mask) == max_length, (note, len(ids))
        cases.append(
            {
                "note": note,
                "raw": raw,
                "cleaned": cleaned,
                "ids": ids,
                "attention_mask": mask,
                "max_length": max_length,
            }
        )

    path = os.path.join(OUT, "t5_cases.json")
    with open(path, "w", encoding="utf-8") as f:
        # One case a line; ensure_ascii=False keeps accents and CJK readable (json still escapes
        # control characters).
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")
    truncated = sum(1 for c in cases if c["attention_mask"][-1] == 1)
    print(f"wrote {tok_dir} and {path}: {len(cases)} cases ({truncated} fill max_length)")


if __name__ == "__main__":
    main()
