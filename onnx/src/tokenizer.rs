//! Prompt tokenisation: `tokenizer.json` through the `tokenizers` crate, with our own padding,
//! truncation and attention mask so the ids equal what diffusers' pipelines feed their text
//! encoders (pad to `max_length` with the pad token, truncate keeping the special tokens).
//!
//! The tokenizer is kept without padding or truncation, and each prompt is encoded once and cut
//! and padded here, so one tokenizer serves any length (Wan reads a per-request number of
//! tokens) without cloning a vocabulary of a quarter of a million pieces per call.

use std::path::Path;

use tokenizers::{Encoding, PostProcessor, Tokenizer};

use crate::error::{Error, Result};

/// Prompts longer than this (in bytes) are refused outright rather than tokenised: nobody types
/// a megabyte into a prompt field, and tokenising one would stall a render thread.
pub const MAX_PROMPT_BYTES: usize = 1 << 20;

/// A prompt turned into model input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, exactly `max_length` of them.
    pub ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Tokens cut off the end because the prompt was longer than the model reads.
    pub truncated_tokens: usize,
    /// Words (or pieces) the vocabulary does not know, mapped to the unknown token.
    pub unknown_words: Vec<String>,
}

/// A tokenizer configured for one model.
pub struct PromptTokenizer {
    tokenizer: Tokenizer,
    max_length: usize,
    pad_id: u32,
    /// Tokens the post-processor adds to one sequence (CLIP: 2, T5: 1).
    added_tokens: usize,
    unk_id: Option<u32>,
}

impl std::fmt::Debug for PromptTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTokenizer")
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl PromptTokenizer {
    /// Loads `tokenizer.json` for prompts of `max_length` tokens, padded with `pad_token`
    /// (default: the file's own padding token, else `<|endoftext|>`).
    pub fn load(path: &Path, max_length: usize, pad_token: Option<&str>) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| {
            Error::package(format!(
                "{} is not a usable tokenizer.json: {e}; export it again with tools/export.py",
                path.display()
            ))
        })?;
        let file_pad = tokenizer.get_padding().map(|p| p.pad_token.clone());
        let pad_token = pad_token
            .map(str::to_owned)
            .or(file_pad)
            .unwrap_or("<|endoftext|>".into());
        let pad_id = tokenizer.token_to_id(&pad_token).ok_or_else(|| {
            Error::package(format!(
                "{}: the padding token {pad_token:?} is not in the vocabulary; set \
                 tokenizer.pad_token in promptreel.json to a token it has",
                path.display()
            ))
        })?;
        // We pad and truncate ourselves (encode_with_length), so the file's settings go.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::package(format!("{}: {e}", path.display())))?;
        let added_tokens = tokenizer
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        if max_length < added_tokens {
            return Err(Error::package(format!(
                "{}: cannot truncate to {max_length} tokens: the tokenizer adds \
                 {added_tokens} special tokens to every prompt",
                path.display()
            )));
        }
        let unk_id = ["<unk>", "[UNK]", "<|unk|>"]
            .iter()
            .find_map(|t| tokenizer.token_to_id(t));
        Ok(Self {
            tokenizer,
            max_length,
            pad_id,
            added_tokens,
            unk_id,
        })
    }

    /// Tokens per prompt.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Encodes `prompt` to the configured length (an empty prompt is fine: it is the
    /// unconditional input).
    pub fn encode(&self, prompt: &str) -> Result<Encoded> {
        self.encode_with_length(prompt, self.max_length)
    }

    /// Encodes `prompt` to exactly `max_length` ids, as transformers does with
    /// `padding="max_length", truncation=True, add_special_tokens=True`: the prompt's tokens are
    /// cut to leave room for the special tokens, which are then added (so T5 still ends with
    /// `</s>`, CLIP with `<|endoftext|>`), and the rest is the pad token with mask 0.
    pub fn encode_with_length(&self, prompt: &str, max_length: usize) -> Result<Encoded> {
        if prompt.len() > MAX_PROMPT_BYTES {
            return Err(Error::setting(format!(
                "the prompt is {} bytes long; at most {MAX_PROMPT_BYTES} bytes are accepted \
                 (the model reads only its first {max_length} tokens anyway)",
                prompt.len(),
            )));
        }
        if max_length < self.added_tokens {
            return Err(Error::setting(format!(
                "cannot encode a prompt in {max_length} tokens: the tokenizer adds {} special \
                 tokens to every prompt",
                self.added_tokens
            )));
        }
        let fail =
            |e: tokenizers::Error| Error::setting(format!("could not tokenise the prompt: {e}"));
        // Special tokens written in the prompt (e.g. "</s>") are still matched here, as in
        // transformers; only the post-processor's template is left out until after the cut.
        let seq = self.tokenizer.encode(prompt, false).map_err(fail)?;
        let keep = max_length - self.added_tokens;
        let truncated_tokens = seq.len().saturating_sub(keep);
        let unknown_words = match self.unk_id {
            Some(unk) => seq
                .get_ids()
                .iter()
                .zip(seq.get_offsets())
                .filter(|(id, _)| **id == unk)
                .filter_map(|(_, &(a, b))| prompt.get(a..b).map(str::to_owned))
                .collect(),
            None => Vec::new(),
        };
        // The same cut as tokenizers' own truncation (right side, max_length minus the added
        // tokens), but without building the overflowing pieces it would keep for the rest.
        let seq = if truncated_tokens > 0 {
            head(&seq, keep)
        } else {
            seq
        };
        let enc = self.tokenizer.post_process(seq, None, true).map_err(fail)?;
        let mut ids: Vec<i64> = enc.get_ids().iter().map(|&i| i64::from(i)).collect();
        let mut attention_mask: Vec<i64> = enc
            .get_attention_mask()
            .iter()
            .map(|&m| i64::from(m))
            .collect();
        if ids.len() > max_length {
            return Err(Error::package(format!(
                "the tokenizer produced {} ids instead of {max_length}",
                ids.len()
            )));
        }
        ids.resize(max_length, i64::from(self.pad_id));
        attention_mask.resize(max_length, 0);
        Ok(Encoded {
            ids,
            attention_mask,
            truncated_tokens,
            unknown_words,
        })
    }
}

/// The first `n` tokens of `enc`.
fn head(enc: &Encoding, n: usize) -> Encoding {
    Encoding::new(
        enc.get_ids()[..n].to_vec(),
        enc.get_type_ids()[..n].to_vec(),
        enc.get_tokens()[..n].to_vec(),
        enc.get_word_ids()[..n].to_vec(),
        enc.get_offsets()[..n].to_vec(),
        enc.get_special_tokens_mask()[..n].to_vec(),
        enc.get_attention_mask()[..n].to_vec(),
        Vec::new(),
        Default::default(),
    )
}
