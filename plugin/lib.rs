//! Promptreel as an OpenFX plugin: the "Text to Video" generator.
//!
//! Layers, bottom up: `ofx-sys` (our C declarations of the API), [`ofx`] (the thin safe layer
//! over the host: the only raw pointers), [`entry`] (the exported symbols and the action
//! dispatcher that catches every panic), [`effect`] (plugin logic, no `unsafe`), [`cache`] (the
//! single-flight memory + disk clip cache), [`resample`] (fitting frames into the output) and
//! [`slate`] (the frame shown before a clip is generated).
//! The engine itself is the `promptreel-engine` crate.

#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
#![deny(unsafe_code)]

pub mod cache;
pub mod effect;
mod entry;
mod instance_data;
pub mod ofx;
pub mod resample;
pub mod slate;
