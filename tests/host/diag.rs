//! Diagnostics: what a plug-in did that a strict host would object to.
//!
//! Two kinds are kept per host: *violations* (a plug-in broke a rule of the specification or of
//! the host: wrong property type, writing a read-only property, an image never released, ...)
//! and *unknown properties* (the plug-in asked for a property this host does not define, which
//! is legal: hosts differ, and the plug-in must cope with `kOfxStatErrUnknown`). Calls whose
//! handle cannot be tied to any host go to the process-wide orphan list.

use std::collections::BTreeSet;
use std::sync::{LazyLock, Mutex};

use super::ffi::lock;

/// The records of one host.
#[derive(Debug, Default)]
pub struct Diagnostics {
    violations: Mutex<Vec<String>>,
    unknown: Mutex<BTreeSet<String>>,
}

impl Diagnostics {
    /// Records a broken rule. Also printed, so a failing test shows it.
    pub fn violation(&self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("[ofx test host] violation: {text}");
        lock(&self.violations).push(text);
    }

    /// Records an access to a property the set does not define.
    pub fn unknown_property(&self, set_kind: &str, property: &str, access: &str) {
        lock(&self.unknown).insert(format!("{set_kind}: {property} ({access})"));
    }

    /// Every violation so far, oldest first.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }

    /// Every distinct unknown-property access, sorted.
    pub fn unknown_properties(&self) -> Vec<String> {
        lock(&self.unknown).iter().cloned().collect()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        lock(&self.violations).clear();
        lock(&self.unknown).clear();
    }
}

/// Violations that could not be tied to a host (bad handles, panics).
static ORPHANS: LazyLock<Mutex<Vec<String>>> = LazyLock::new(Mutex::default);

/// Records a violation that has no host to belong to.
pub fn orphan(text: impl Into<String>) {
    let text = text.into();
    eprintln!("[ofx test host] violation (no host): {text}");
    lock(&ORPHANS).push(text);
}

/// Every orphan violation recorded in this process. Tests run in parallel share this list, so
/// assert on it only with a marker the test itself chose.
pub fn orphans() -> Vec<String> {
    lock(&ORPHANS).clone()
}
