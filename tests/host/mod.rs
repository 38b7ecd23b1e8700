//! A headless OpenFX host for integration tests.
//!
//! It loads a plug-in binary with `libloading` and drives it the way DaVinci Resolve and Natron
//! do: scan (load, describe, unload, `dlclose`), load again, describe in contexts, create
//! instances, edit parameters, ask for clip preferences, regions and time domains, and render
//! frames from several threads into host-owned images. Every suite a plug-in may fetch is
//! implemented here in Rust, and every call a plug-in makes is checked and recorded: messages,
//! progress, unknown properties and protocol violations can all be asserted by the test.
//!
//! Filters are driven too: a test connects footage ([`source::SourceClip`]) to an input clip,
//! the plug-in fetches its frames with `clipGetImage`, and fetches at other times than the one
//! rendered are checked against temporal clip access (see [`effect_suite`] and [`inputs`]).
//!
//! Layout: [`app`] (configuration, `fetchSuite`, records), [`plugin`], [`instance`] and
//! [`inputs`] (the actions), [`source`] (footage for input clips), and one file per suite. Handles given to the plug-in are addresses of host objects
//! listed in [`registry`], so a stale or foreign pointer is answered with
//! `kOfxStatErrBadHandle` instead of being dereferenced.
//!
//! # Platform
//! Only x86-64 and AArch64 Linux: the variadic suite functions (`paramGetValue` and friends,
//! `message`) are implemented as fixed-arity functions that read the registers the variadic
//! calling convention of those targets uses (see [`param_suite`] and [`message`]). The includer
//! gates `mod host;` with the same `#[cfg]`.

// NOTE: each integration test uses a different part of the host.
#![allow(dead_code)]

pub mod app;
pub mod diag;
pub mod effect;
pub mod effect_suite;
pub mod ffi;
pub mod image;
pub mod inputs;
pub mod instance;
pub mod loader;
pub mod memory;
pub mod message;
pub mod multithread;
pub mod param_suite;
pub mod params;
pub mod plugin;
pub mod progress;
pub mod prop_schema;
pub mod property_suite;
pub mod props;
pub mod registry;
pub mod render;
pub mod source;
pub mod timeline;

#[cfg(test)]
mod mock_plugin;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_filter;
#[cfg(test)]
mod tests_mock;
#[cfg(test)]
mod tests_suites;

#[allow(unused_imports)]
pub use app::{Host, HostConfig, Project, SuiteRequest};
#[allow(unused_imports)]
pub use effect::Context;
#[allow(unused_imports)]
pub use image::{BitDepth, ImageBuffer};
#[allow(unused_imports)]
pub use inputs::FramesNeeded;
#[allow(unused_imports)]
pub use instance::{ClipPreferences, Instance};
#[allow(unused_imports)]
pub use loader::{Binary, HostError};
#[allow(unused_imports)]
pub use message::Message;
#[allow(unused_imports)]
pub use params::Value;
#[allow(unused_imports)]
pub use plugin::Plugin;
#[allow(unused_imports)]
pub use progress::ProgressEvent;
#[allow(unused_imports)]
pub use props::PropertySet;
#[allow(unused_imports)]
pub use render::{RenderRequest, Rendered};
#[allow(unused_imports)]
pub use source::{InputFetch, SourceClip};
