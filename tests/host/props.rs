//! Property sets: typed, dimensioned, named values with defaults.
//!
//! Each property has one type (string, int, double or pointer), either a fixed dimension or a
//! variable one, default values, and a flag saying whether the plug-in may write it. The host
//! writes anything through the `host_*` methods; the plug-in goes through the `plugin_*`
//! methods (called by the property suite), which enforce the rules and record what breaks them.
//!
//! Strings handed to the plug-in point into host storage. A replaced string is not freed but
//! moved to a retired list that lives as long as the set, so a pointer the plug-in kept stays
//! readable (real hosts are less forgiving; this host reports, it does not crash).

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::sync::{Arc, Mutex};

use ofx_sys::*;

use super::diag::Diagnostics;
use super::ffi::{lock, lossy};

/// The type of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropType {
    Str,
    Int,
    Double,
    Ptr,
}

/// One value of a property.
#[derive(Clone, Debug, PartialEq)]
pub enum PropValue {
    Str(CString),
    Int(i32),
    Double(f64),
    /// A pointer, stored as an address.
    Ptr(usize),
}

impl PropValue {
    /// The type of this value.
    pub fn ty(&self) -> PropType {
        match self {
            PropValue::Str(_) => PropType::Str,
            PropValue::Int(_) => PropType::Int,
            PropValue::Double(_) => PropType::Double,
            PropValue::Ptr(_) => PropType::Ptr,
        }
    }

    /// A string value. Interior NULs are dropped (test data never has them).
    pub fn str(s: &str) -> Self {
        PropValue::Str(CString::new(s.replace('\0', "")).unwrap_or_default())
    }
}

/// How many values a property holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// Exactly this many.
    Fixed(usize),
    /// Any number; the plug-in may append by setting index == dimension.
    Var,
}

/// Whether the plug-in may write a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Host and plug-in may write.
    ReadWrite,
    /// Only the host writes; the plug-in gets `kOfxStatErrValue`.
    ReadOnly,
}

/// A value read for the plug-in: strings as pointers into host storage.
#[derive(Clone, Copy, Debug)]
pub enum RawValue {
    Str(*const c_char),
    Int(i32),
    Double(f64),
    Ptr(usize),
}

#[derive(Clone, Debug)]
struct Property {
    ty: PropType,
    dim: Dim,
    values: Vec<PropValue>,
    defaults: Vec<PropValue>,
    access: Access,
}

#[derive(Debug, Default)]
struct Inner {
    props: HashMap<CString, Property>,
    /// Strings replaced while the plug-in may still hold pointers to them.
    retired: Vec<CString>,
}

/// A named set of properties (a handle of type `OfxPropertySetHandle`).
#[derive(Debug)]
pub struct PropertySet {
    kind: String,
    lenient: bool,
    inner: Mutex<Inner>,
    diag: Arc<Diagnostics>,
}

impl PropertySet {
    /// An empty set. `kind` names it in diagnostics ("effect descriptor", "render inArgs").
    /// A `lenient` set lets the plug-in create properties by setting them.
    pub fn new(kind: impl Into<String>, lenient: bool, diag: Arc<Diagnostics>) -> Self {
        Self {
            kind: kind.into(),
            lenient,
            inner: Mutex::default(),
            diag,
        }
    }

    /// What kind of set this is, for diagnostics.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The diagnostics this set reports to.
    pub fn diag(&self) -> &Arc<Diagnostics> {
        &self.diag
    }

    /// Defines (or redefines) a property with its defaults as current values.
    pub fn define(&self, name: &CStr, dim: Dim, access: Access, defaults: Vec<PropValue>) {
        let ty = defaults.first().map_or(PropType::Str, PropValue::ty);
        self.define_typed(name, ty, dim, access, defaults);
    }

    /// Defines a property whose defaults may be empty.
    pub fn define_typed(
        &self,
        name: &CStr,
        ty: PropType,
        dim: Dim,
        access: Access,
        defaults: Vec<PropValue>,
    ) {
        debug_assert!(
            defaults.iter().all(|v| v.ty() == ty),
            "mixed types in {name:?}"
        );
        let property = Property {
            ty,
            dim,
            values: defaults.clone(),
            defaults,
            access,
        };
        let mut inner = lock(&self.inner);
        if let Some(old) = inner.props.insert(name.to_owned(), property) {
            retire(&mut inner.retired, old.values);
        }
    }

    /// Copies every property of `other` into this set (redefining same-named ones).
    pub fn copy_from(&self, other: &PropertySet, access: Access) {
        let theirs: Vec<(CString, Property)> = lock(&other.inner)
            .props
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut inner = lock(&self.inner);
        for (name, mut property) in theirs {
            property.access = access;
            property.defaults = property.values.clone();
            if let Some(old) = inner.props.insert(name, property) {
                retire(&mut inner.retired, old.values);
            }
        }
    }

    /// Changes who may write an existing property.
    pub fn set_access(&self, name: &CStr, access: Access) {
        if let Some(p) = lock(&self.inner).props.get_mut(name) {
            p.access = access;
        }
    }

    /// Whether the set defines `name`.
    pub fn has(&self, name: &CStr) -> bool {
        lock(&self.inner).props.contains_key(name)
    }

    /// Every property name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.inner).props.keys().map(|k| lossy(k)).collect();
        names.sort();
        names
    }

    /// Host write of all values, ignoring access rules; defines the property if missing.
    pub fn host_set(&self, name: &CStr, values: Vec<PropValue>) {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        match inner.props.get_mut(name) {
            Some(p) => {
                let old = std::mem::replace(&mut p.values, values);
                retire(&mut inner.retired, old);
            }
            None => {
                let ty = values.first().map_or(PropType::Str, PropValue::ty);
                inner.props.insert(
                    name.to_owned(),
                    Property {
                        ty,
                        dim: Dim::Var,
                        defaults: values.clone(),
                        values,
                        access: Access::ReadWrite,
                    },
                );
            }
        }
    }

    /// Host write of string values.
    pub fn host_set_strs(&self, name: &CStr, values: &[&str]) {
        self.host_set(name, values.iter().map(|s| PropValue::str(s)).collect());
    }

    /// Host write of int values.
    pub fn host_set_ints(&self, name: &CStr, values: &[i32]) {
        self.host_set(name, values.iter().copied().map(PropValue::Int).collect());
    }

    /// Host write of double values.
    pub fn host_set_doubles(&self, name: &CStr, values: &[f64]) {
        self.host_set(
            name,
            values.iter().copied().map(PropValue::Double).collect(),
        );
    }

    /// All values of a property, if defined.
    pub fn values(&self, name: &CStr) -> Option<Vec<PropValue>> {
        lock(&self.inner).props.get(name).map(|p| p.values.clone())
    }

    /// All values as strings (None if undefined or not a string property).
    pub fn strs(&self, name: &CStr) -> Option<Vec<String>> {
        self.values(name)?
            .into_iter()
            .map(|v| match v {
                PropValue::Str(s) => Some(lossy(&s)),
                _ => None,
            })
            .collect()
    }

    /// The first string value.
    pub fn str(&self, name: &CStr) -> Option<String> {
        self.strs(name)?.into_iter().next()
    }

    /// All values as ints.
    pub fn ints(&self, name: &CStr) -> Option<Vec<i32>> {
        self.values(name)?
            .into_iter()
            .map(|v| match v {
                PropValue::Int(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    /// The first int value.
    pub fn int(&self, name: &CStr) -> Option<i32> {
        self.ints(name)?.into_iter().next()
    }

    /// All values as doubles.
    pub fn doubles(&self, name: &CStr) -> Option<Vec<f64>> {
        self.values(name)?
            .into_iter()
            .map(|v| match v {
                PropValue::Double(d) => Some(d),
                _ => None,
            })
            .collect()
    }

    /// The first double value.
    pub fn double(&self, name: &CStr) -> Option<f64> {
        self.doubles(name)?.into_iter().next()
    }

    /// The first pointer value.
    pub fn ptr(&self, name: &CStr) -> Option<usize> {
        match self.values(name)?.into_iter().next()? {
            PropValue::Ptr(p) => Some(p),
            _ => None,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Plug-in side (property suite)
    // ---------------------------------------------------------------------------------------

    /// Looks a property up for the plug-in, checking its type.
    fn checked<'a>(
        &self,
        props: &'a mut HashMap<CString, Property>,
        name: &CStr,
        ty: PropType,
        access: &str,
    ) -> Result<&'a mut Property, OfxStatus> {
        let Some(p) = props.get_mut(name) else {
            self.diag.unknown_property(&self.kind, &lossy(name), access);
            return Err(kOfxStatErrUnknown);
        };
        if p.ty != ty {
            self.diag.violation(format!(
                "{}: {access} of {} as {ty:?}, but it is a {:?} property",
                self.kind,
                lossy(name),
                p.ty
            ));
            return Err(kOfxStatErrValue);
        }
        Ok(p)
    }

    /// Whether the plug-in may write; records a violation if not.
    fn writable(&self, p: &Property, name: &CStr) -> Result<(), OfxStatus> {
        if p.access == Access::ReadOnly {
            self.diag.violation(format!(
                "{}: plug-in wrote read-only property {}",
                self.kind,
                lossy(name)
            ));
            return Err(kOfxStatErrValue);
        }
        Ok(())
    }

    /// `propSet*`: sets one value at `index`.
    pub fn plugin_set(&self, name: &CStr, index: i32, value: PropValue) -> Result<(), OfxStatus> {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        if self.lenient && !inner.props.contains_key(name) {
            self.diag
                .unknown_property(&self.kind, &lossy(name), "set, created");
            inner.props.insert(
                name.to_owned(),
                Property {
                    ty: value.ty(),
                    dim: Dim::Var,
                    values: Vec::new(),
                    defaults: Vec::new(),
                    access: Access::ReadWrite,
                },
            );
        }
        let p = self.checked(&mut inner.props, name, value.ty(), "set")?;
        self.writable(p, name)?;
        let index = usize::try_from(index).map_err(|_| kOfxStatErrBadIndex)?;
        let limit = match p.dim {
            Dim::Fixed(n) => n,
            Dim::Var => p.values.len() + 1,
        };
        if index >= limit {
            return Err(kOfxStatErrBadIndex);
        }
        if index == p.values.len() {
            p.values.push(value);
        } else {
            let old = std::mem::replace(&mut p.values[index], value);
            retire(&mut inner.retired, vec![old]);
        }
        Ok(())
    }

    /// `propSet*N`: sets `values.len()` values starting at index 0.
    pub fn plugin_set_n(
        &self,
        name: &CStr,
        ty: PropType,
        values: Vec<PropValue>,
    ) -> Result<(), OfxStatus> {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let p = self.checked(&mut inner.props, name, ty, "set N")?;
        self.writable(p, name)?;
        let old = match p.dim {
            Dim::Fixed(n) if values.len() > n => return Err(kOfxStatErrBadIndex),
            Dim::Fixed(_) => {
                let count = values.len();
                p.values
                    .splice(..count.min(p.values.len()), values)
                    .collect()
            }
            Dim::Var => std::mem::replace(&mut p.values, values),
        };
        retire(&mut inner.retired, old);
        Ok(())
    }

    /// `propGet*`: reads the value at `index`.
    pub fn plugin_get(&self, name: &CStr, index: i32, ty: PropType) -> Result<RawValue, OfxStatus> {
        let mut inner = lock(&self.inner);
        let p = self.checked(&mut inner.props, name, ty, "get")?;
        let index = usize::try_from(index).map_err(|_| kOfxStatErrBadIndex)?;
        p.values.get(index).map(raw).ok_or(kOfxStatErrBadIndex)
    }

    /// `propGet*N`: reads the first `count` values.
    pub fn plugin_get_n(
        &self,
        name: &CStr,
        count: i32,
        ty: PropType,
    ) -> Result<Vec<RawValue>, OfxStatus> {
        let mut inner = lock(&self.inner);
        let p = self.checked(&mut inner.props, name, ty, "get N")?;
        let count = usize::try_from(count).map_err(|_| kOfxStatErrBadIndex)?;
        if count > p.values.len() {
            return Err(kOfxStatErrBadIndex);
        }
        Ok(p.values[..count].iter().map(raw).collect())
    }

    /// `propReset`: restores the defaults.
    pub fn plugin_reset(&self, name: &CStr) -> Result<(), OfxStatus> {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let Some(p) = inner.props.get_mut(name) else {
            self.diag
                .unknown_property(&self.kind, &lossy(name), "reset");
            return Err(kOfxStatErrUnknown);
        };
        self.writable(p, name)?;
        let old = std::mem::replace(&mut p.values, p.defaults.clone());
        retire(&mut inner.retired, old);
        Ok(())
    }

    /// `propGetDimension`: how many values the property holds now.
    pub fn plugin_dimension(&self, name: &CStr) -> Result<usize, OfxStatus> {
        let inner = lock(&self.inner);
        match inner.props.get(name) {
            Some(p) => Ok(p.values.len()),
            None => {
                self.diag
                    .unknown_property(&self.kind, &lossy(name), "dimension");
                Err(kOfxStatErrUnknown)
            }
        }
    }
}

/// The plug-in's view of a value. Strings point into the set's storage, which keeps them (or
/// their retired copies) alive as long as the set.
fn raw(value: &PropValue) -> RawValue {
    match value {
        PropValue::Str(s) => RawValue::Str(s.as_ptr()),
        PropValue::Int(i) => RawValue::Int(*i),
        PropValue::Double(d) => RawValue::Double(*d),
        PropValue::Ptr(p) => RawValue::Ptr(*p),
    }
}

/// Keeps replaced strings alive (see the module comment).
fn retire(retired: &mut Vec<CString>, old: Vec<PropValue>) {
    retired.extend(old.into_iter().filter_map(|v| match v {
        PropValue::Str(s) => Some(s),
        _ => None,
    }));
}
