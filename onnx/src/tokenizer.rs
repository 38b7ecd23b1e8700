//! Prompt tokenisation: `tokenizer.json` through the `tokenizers` crate, with our own padding,
//! truncation and attention mask so the ids equal what diffusers' pipelines feed their text
//! encoders (pad to `max_length` with the pad token, truncate keeping the special tokens).

use std::path::Path;

use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

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
    padded: Tokenizer,
    plain: Tokenizer,
    max_length: usize,
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
    /// Loads `tokenizer.json` and sets padding/truncation to `max_length` with `pad_token`
    /// (default: the file's own padding token, else `<|endoftext|>`).
    pub fn load(path: &Path, max_length: usize, pad_token: Option<&str>) -> Result<Self> {
        let mut plain = Tokenizer::from_file(path).map_err(|e| {
            Error::package(format!(
                "{} is not a usable tokenizer.json: {e}; export it again with tools/export.py",
                path.display()
            ))
        })?;
        let file_pad = plain.get_padding().map(|p| p.pad_token.clone());
        let pad_token = pad_token
            .map(str::to_owned)
            .or(file_pad)
            .unwrap_or("<|endoftext|>".into());
        let pad_id = plain.token_to_id(&pad_token).ok_or_else(|| {
            Error::package(format!(
                "{}: the padding token {pad_token:?} is not in the vocabulary; set \
                 tokenizer.pad_token in promptreel.json to a token it has",
                path.display()
            ))
        })?;
        plain.with_padding(None);
        plain
            .with_truncation(None)
            .map_err(|e| Error::package(format!("{}: {e}", path.display())))?;
        let mut padded = plain.clone();
        padded
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| {
                Error::package(format!(
                    "{}: cannot truncate to {max_length} tokens: {e}",
                    path.display()
                ))
            })?;
        padded.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(max_length),
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        let unk_id = ["<unk>", "[UNK]", "<|unk|>"]
            .iter()
            .find_map(|t| plain.token_to_id(t));
        Ok(Self {
            padded,
            plain,
            max_length,
            unk_id,
        })
    }

    /// Tokens per prompt.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Encodes `prompt` (an empty prompt is fine: it is the unconditional input).
    pub fn encode(&self, prompt: &str) -> Result<Encoded> {
        if prompt.len() > MAX_PROMPT_BYTES {
            return Err(Error::setting(format!(
                "the prompt is {} bytes long; at most {MAX_PROMPT_BYTES} bytes are accepted \
                 (the model reads only its first {} tokens anyway)",
                prompt.len(),
                self.max_length
            )));
        }
        let fail =
            |e: tokenizers::Error| Error::setting(format!("could not tokenise the prompt: {e}"));
        let full = self.plain.encode(prompt, true).map_err(fail)?;
        let enc = self.padded.encode(prompt, true).map_err(fail)?;
        let ids: Vec<i64> = enc.get_ids().iter().map(|&i| i64::from(i)).collect();
        let attention_mask = enc
            .get_attention_mask()
            .iter()
            .map(|&m| i64::from(m))
            .collect();
        let truncated_tokens = full.get_ids().len().saturating_sub(self.max_length);
        let unknown_words = match self.unk_id {
            Some(unk) => full
                .get_ids()
                .iter()
                .zip(full.get_offsets())
                .filter(|(id, _)| **id == unk)
                .filter_map(|(_, &(a, b))| prompt.get(a..b).map(str::to_owned))
                .collect(),
            None => Vec::new(),
        };
        if ids.len() != self.max_length {
            return Err(Error::package(format!(
                "the tokenizer produced {} ids instead of {}",
                ids.len(),
                self.max_length
            )));
        }
        Ok(Encoded {
            ids,
            attention_mask,
            truncated_tokens,
            unknown_words,
        })
    }
}
