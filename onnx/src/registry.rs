//! The process-wide model registry: one [`Model`] (and so one session per graph) per model
//! folder and session options, shared by every caller — CLI, plugin instances, render threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::package::ModelPackage;
use crate::runtime::{self, SessionOptions};

type Key = (PathBuf, SessionOptions);

fn models() -> &'static Mutex<HashMap<Key, Arc<Model>>> {
    static MODELS: OnceLock<Mutex<HashMap<Key, Arc<Model>>>> = OnceLock::new();
    MODELS.get_or_init(Default::default)
}

/// Returns the shared model for `dir`, opening the package (not yet its sessions) on first use.
/// ONNX Runtime must load from `ort_lib` (or the default search) the first time.
pub fn get(dir: &Path, options: SessionOptions, ort_lib: Option<&Path>) -> Result<Arc<Model>> {
    let root = crate::paths::canonicalize(dir).map_err(|e| {
        Error::package(format!(
            "model folder {} cannot be opened ({e}); give the folder that holds promptreel.json",
            dir.display()
        ))
    })?;
    let key = (root.clone(), options.clone());
    if let Some(m) = models().lock().get(&key) {
        return Ok(m.clone());
    }
    // NOTE: open outside the lock: a slow disk must not block other models' callers. Two
    // threads may both open; the first to insert wins and the other's copy is dropped.
    let package = ModelPackage::open(&root)?;
    let rt = runtime::load(ort_lib)?;
    let model = Arc::new(Model::new(package, rt, options));
    Ok(models().lock().entry(key).or_insert(model).clone())
}

/// Forgets every model and its sessions (the plugin's PurgeCaches). Generations in flight keep
/// their model alive until they finish.
pub fn purge() -> usize {
    let mut map = models().lock();
    let n = map.len();
    for m in map.values() {
        m.drop_sessions();
    }
    map.clear();
    n
}

/// How many models are registered.
pub fn len() -> usize {
    models().lock().len()
}
