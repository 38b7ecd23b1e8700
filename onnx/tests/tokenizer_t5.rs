//! Wan's text path against diffusers and transformers: prompt cleaning (`prompt_clean`) and the
//! T5/UMT5 tokenizer at a per-request length, on the cases tools/make_tokenizer_cases.py wrote
//! (a tiny SentencePiece Unigram tokenizer in the same format as Wan's, and tricky text: HTML
//! entities, Unicode whitespace, NFKC, out-of-vocabulary characters, truncation).

mod common;

use promptreel_engine::prompt_clean::wan_prompt_clean;
use promptreel_engine::tokenizer::PromptTokenizer;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = common::data().join("tokenizer/t5_cases.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<Value> = serde_json::from_str(&text).expect("t5_cases.json");
    assert!(cases.len() >= 14, "only {} cases", cases.len());
    cases
}

fn tokenizer() -> PromptTokenizer {
    // The configured length (226, Wan's max_sequence_length) is not what the cases use: each
    // case asks for its own through encode_with_length.
    PromptTokenizer::load(
        &common::data().join("tokenizer/t5/tokenizer.json"),
        226,
        Some("<pad>"),
    )
    .expect("load the T5 fixture tokenizer")
}

fn ints(v: &Value) -> Vec<i64> {
    serde_json::from_value(v.clone()).expect("a list of integers")
}

#[test]
fn prompt_clean_matches_diffusers() {
    let cases = cases();
    for c in &cases {
        let raw = c["raw"].as_str().expect("raw");
        let want = c["cleaned"].as_str().expect("cleaned");
        assert_eq!(wan_prompt_clean(raw), want, "{}: {raw:?}", c["note"]);
    }
    println!("prompt_clean: {} cases match", cases.len());
}

#[test]
fn t5_ids_and_mask_match_transformers() {
    let tok = tokenizer();
    let cases = cases();
    let mut truncated = 0;
    for c in &cases {
        let cleaned = c["cleaned"].as_str().expect("cleaned");
        let max_length = c["max_length"].as_u64().expect("max_length") as usize;
        let got = tok
            .encode_with_length(cleaned, max_length)
            .unwrap_or_else(|e| panic!("{}: {e}", c["note"]));
        assert_eq!(got.ids, ints(&c["ids"]), "ids: {}: {cleaned:?}", c["note"]);
        assert_eq!(
            got.attention_mask,
            ints(&c["attention_mask"]),
            "mask: {}: {cleaned:?}",
            c["note"]
        );
        // T5 ends every prompt with </s> (id 1), also when cutting it short.
        let real = got.attention_mask.iter().filter(|&&m| m == 1).count();
        assert_eq!(got.ids[real - 1], 1, "{}: no </s> at the end", c["note"]);
        truncated += usize::from(got.truncated_tokens > 0);
    }
    assert!(truncated >= 3, "only {truncated} cases exercise truncation");
    println!(
        "T5 tokenizer: {} cases match ({truncated} truncated)",
        cases.len()
    );
}

#[test]
fn encode_uses_the_configured_length() {
    let tok = tokenizer();
    let prompt = "a red ball moving right on a black background";
    let configured = tok.encode(prompt).expect("encode");
    assert_eq!(configured.ids.len(), 226);
    assert_eq!(
        configured,
        tok.encode_with_length(prompt, 226)
            .expect("encode_with_length")
    );
    // A shorter request is the longer one cut back, with </s> put back at the end.
    let short = tok
        .encode_with_length(prompt, 8)
        .expect("encode_with_length");
    assert_eq!(short.ids[..7], configured.ids[..7]);
    assert_eq!(short.ids[7], 1);
    assert_eq!(short.attention_mask, vec![1; 8]);
    assert!(short.truncated_tokens > 0);
    // Only </s> fits: the prompt is dropped entirely, as transformers does.
    assert_eq!(tok.encode_with_length(prompt, 1).expect("one").ids, vec![1]);
    // Not even </s> fits: refused in words instead of a wrong-length tensor.
    assert!(tok.encode_with_length(prompt, 0).is_err());
}

#[test]
fn unknown_characters_are_reported() {
    let tok = tokenizer();
    let got = tok
        .encode_with_length("a cat привет", 16)
        .expect("encode_with_length");
    assert_eq!(got.unknown_words, vec!["привет".to_owned()]);
}
