//! The thin safe layer over the OpenFX host: the only place in the plugin with raw pointers.
//!
//! Everything above it (`crate::effect`) talks to [`Host`], [`PropertySet`], [`ParamSet`],
//! [`Clip`] and [`Image`] and never sees an `OfxPropertySetHandle`. Handles are wrapped in
//! newtypes that can only be made here from pointers the host handed us for the current action.
//! Suites are fetched on every Load and dropped on Unload: a host may unload the binary's
//! state (or the whole library) between scans, and a pointer from an earlier load is never kept.

#![allow(unsafe_code)]

mod error;
mod handles;
mod host;
mod image;
mod params;
mod platform;
mod props;

pub use error::{OfxError, OfxResult, Status};
pub use handles::{Clip, EffectHandle};
pub use host::{
    Host, MessageKind, Progress, current_host, install_host, set_host_pointer, uninstall_host,
};
pub use image::{Image, PixelDepth};
pub use params::{Param, ParamSet, ParamType};
pub use platform::plugin_binary_dir;
pub use props::PropertySet;

/// Property names, action names and other string constants from the OpenFX API.
pub use ofx_sys as sys;
