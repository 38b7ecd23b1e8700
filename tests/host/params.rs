//! Parameters: types, stored values with optional keyframes, and parameter sets.
//!
//! A descriptor parameter set is filled by `paramDefine` during DescribeInContext; an instance
//! set is built by the host from it, each value starting at `kOfxParamPropDefault`.

use std::ffi::{CStr, CString};
use std::sync::{Arc, Mutex};

use ofx_sys::*;

use super::diag::Diagnostics;
use super::effect::Runtime;
use super::ffi::{lock, lossy};
use super::prop_schema;
use super::props::{Access, PropValue, PropertySet};
use super::registry::{self, Object};

/// The type a parameter was defined with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    Integer,
    Double,
    Boolean,
    Choice,
    StrChoice,
    Rgba,
    Rgb,
    Double2D,
    Integer2D,
    Double3D,
    Integer3D,
    String,
    Custom,
    Group,
    Page,
    PushButton,
}

/// How a parameter type stores its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    Ints(usize),
    Doubles(usize),
    Str,
    Nothing,
}

impl ParamType {
    const ALL: [ParamType; 16] = [
        ParamType::Integer,
        ParamType::Double,
        ParamType::Boolean,
        ParamType::Choice,
        ParamType::StrChoice,
        ParamType::Rgba,
        ParamType::Rgb,
        ParamType::Double2D,
        ParamType::Integer2D,
        ParamType::Double3D,
        ParamType::Integer3D,
        ParamType::String,
        ParamType::Custom,
        ParamType::Group,
        ParamType::Page,
        ParamType::PushButton,
    ];

    /// The `kOfxParamType*` string.
    pub fn as_cstr(self) -> &'static CStr {
        match self {
            ParamType::Integer => kOfxParamTypeInteger,
            ParamType::Double => kOfxParamTypeDouble,
            ParamType::Boolean => kOfxParamTypeBoolean,
            ParamType::Choice => kOfxParamTypeChoice,
            ParamType::StrChoice => kOfxParamTypeStrChoice,
            ParamType::Rgba => kOfxParamTypeRGBA,
            ParamType::Rgb => kOfxParamTypeRGB,
            ParamType::Double2D => kOfxParamTypeDouble2D,
            ParamType::Integer2D => kOfxParamTypeInteger2D,
            ParamType::Double3D => kOfxParamTypeDouble3D,
            ParamType::Integer3D => kOfxParamTypeInteger3D,
            ParamType::String => kOfxParamTypeString,
            ParamType::Custom => kOfxParamTypeCustom,
            ParamType::Group => kOfxParamTypeGroup,
            ParamType::Page => kOfxParamTypePage,
            ParamType::PushButton => kOfxParamTypePushButton,
        }
    }

    /// Parses a `kOfxParamType*` string.
    pub fn from_cstr(name: &CStr) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_cstr() == name)
    }

    /// How values of this type are stored.
    pub fn storage(self) -> Storage {
        match self {
            ParamType::Integer | ParamType::Boolean | ParamType::Choice => Storage::Ints(1),
            ParamType::Integer2D => Storage::Ints(2),
            ParamType::Integer3D => Storage::Ints(3),
            ParamType::Double => Storage::Doubles(1),
            ParamType::Double2D => Storage::Doubles(2),
            ParamType::Double3D | ParamType::Rgb => Storage::Doubles(3),
            ParamType::Rgba => Storage::Doubles(4),
            ParamType::String | ParamType::StrChoice | ParamType::Custom => Storage::Str,
            ParamType::Group | ParamType::Page | ParamType::PushButton => Storage::Nothing,
        }
    }
}

/// A parameter value as the test sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i32),
    Bool(bool),
    Double(f64),
    Str(String),
    Ints(Vec<i32>),
    Doubles(Vec<f64>),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Str(s.into())
    }

    /// The value as an int, if it is one.
    pub fn as_int(&self) -> Option<i32> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i32::from(*b)),
            Value::Ints(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }

    /// The value as a double, if it is one.
    pub fn as_double(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Doubles(v) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A stored value.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    Ints(Vec<i32>),
    Doubles(Vec<f64>),
    Str(CString),
    Nothing,
}

impl Stored {
    /// Converts a test value for a parameter stored as `storage`.
    pub fn from_value(value: &Value, storage: Storage) -> Option<Stored> {
        Some(match (storage, value) {
            (Storage::Ints(1), Value::Int(i)) => Stored::Ints(vec![*i]),
            (Storage::Ints(1), Value::Bool(b)) => Stored::Ints(vec![i32::from(*b)]),
            (Storage::Ints(n), Value::Ints(v)) if v.len() == n => Stored::Ints(v.clone()),
            (Storage::Doubles(1), Value::Double(d)) => Stored::Doubles(vec![*d]),
            (Storage::Doubles(n), Value::Doubles(v)) if v.len() == n => Stored::Doubles(v.clone()),
            (Storage::Str, Value::Str(s)) => Stored::Str(CString::new(s.replace('\0', "")).ok()?),
            _ => return None,
        })
    }

    /// The test's view of a stored value.
    pub fn to_value(&self, ty: ParamType) -> Option<Value> {
        Some(match self {
            Stored::Ints(v) if ty == ParamType::Boolean => Value::Bool(v[0] != 0),
            Stored::Ints(v) if v.len() == 1 => Value::Int(v[0]),
            Stored::Ints(v) => Value::Ints(v.clone()),
            Stored::Doubles(v) if v.len() == 1 => Value::Double(v[0]),
            Stored::Doubles(v) => Value::Doubles(v.clone()),
            Stored::Str(s) => Value::Str(lossy(s)),
            Stored::Nothing => return None,
        })
    }
}

/// Value and keyframes of a parameter.
#[derive(Debug)]
pub struct ParamState {
    pub value: Stored,
    /// Keyframes sorted by time.
    pub keys: Vec<(f64, Stored)>,
    /// Strings the plug-in may still point at (see the `props` module).
    pub retired: Vec<CString>,
}

impl ParamState {
    /// The value at `time`: the static value without keys; with keys, linear between keys for
    /// doubles and the previous key for everything else; held before the first and after the
    /// last key.
    pub fn at(&self, time: f64) -> Stored {
        let Some(first) = self.keys.first() else {
            return self.value.clone();
        };
        if time <= first.0 {
            return first.1.clone();
        }
        for pair in self.keys.windows(2) {
            let ((t0, v0), (t1, v1)) = (&pair[0], &pair[1]);
            if time < *t1 {
                return match (v0, v1) {
                    (Stored::Doubles(a), Stored::Doubles(b)) => {
                        let f = (time - t0) / (t1 - t0);
                        Stored::Doubles(a.iter().zip(b).map(|(a, b)| a + (b - a) * f).collect())
                    }
                    _ => v0.clone(),
                };
            }
        }
        self.keys
            .last()
            .map_or_else(|| self.value.clone(), |k| k.1.clone())
    }

    /// For string types: a pointer to the stored string in effect at `time` (the static value,
    /// or the key in effect), valid until the value is replaced and then kept alive in
    /// `retired`.
    pub fn str_ptr_at(&self, time: f64) -> Option<*const std::ffi::c_char> {
        let stored = if self.keys.is_empty() {
            &self.value
        } else {
            let i = self.keys.iter().rposition(|k| k.0 <= time).unwrap_or(0);
            &self.keys[i].1
        };
        match stored {
            Stored::Str(s) => Some(s.as_ptr()),
            _ => None,
        }
    }

    /// Replaces the static value, keeping an old string alive.
    pub fn set(&mut self, value: Stored) {
        if let Stored::Str(old) = std::mem::replace(&mut self.value, value) {
            self.retired.push(old);
        }
    }

    /// Adds or replaces the keyframe at `time`.
    pub fn set_key(&mut self, time: f64, value: Stored) {
        match self.keys.iter().position(|k| k.0 >= time) {
            Some(i) if self.keys[i].0 == time => {
                if let Stored::Str(old) = std::mem::replace(&mut self.keys[i].1, value) {
                    self.retired.push(old);
                }
            }
            Some(i) => self.keys.insert(i, (time, value)),
            None => self.keys.push((time, value)),
        }
    }
}

/// A parameter handle's object.
#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub props: Arc<PropertySet>,
    pub is_instance: bool,
    pub state: Mutex<ParamState>,
    /// The owning instance's state (None for descriptors).
    pub runtime: Option<Arc<Runtime>>,
}

impl Param {
    /// The handle given to the plug-in.
    pub fn handle(self: &Arc<Self>) -> OfxParamHandle {
        Arc::as_ptr(self).cast_mut().cast()
    }

    /// The default value, read from `kOfxParamPropDefault`.
    pub fn default_value(&self) -> Stored {
        let values = self.props.values(kOfxParamPropDefault).unwrap_or_default();
        match self.ty.storage() {
            Storage::Ints(n) => Stored::Ints(
                (0..n)
                    .map(|i| match values.get(i) {
                        Some(PropValue::Int(v)) => *v,
                        _ => 0,
                    })
                    .collect(),
            ),
            Storage::Doubles(n) => Stored::Doubles(
                (0..n)
                    .map(|i| match values.get(i) {
                        Some(PropValue::Double(v)) => *v,
                        _ => 0.0,
                    })
                    .collect(),
            ),
            Storage::Str => match values.first() {
                Some(PropValue::Str(s)) => Stored::Str(s.clone()),
                _ => Stored::Str(CString::default()),
            },
            Storage::Nothing => Stored::Nothing,
        }
    }

    /// The current (static) value as the test sees it.
    pub fn value(&self) -> Option<Value> {
        lock(&self.state).value.to_value(self.ty)
    }
}

/// A parameter-set handle's object.
#[derive(Debug)]
pub struct ParamSet {
    /// The effect's property set, which `paramSetGetPropertySet` returns.
    pub effect_props: Arc<PropertySet>,
    pub is_instance: bool,
    pub params: Mutex<Vec<Arc<Param>>>,
    /// Nesting depth of `paramEditBegin`.
    pub edit_depth: Mutex<i32>,
    pub diag: Arc<Diagnostics>,
}

impl ParamSet {
    /// An empty set.
    pub fn new(effect_props: Arc<PropertySet>, is_instance: bool, diag: Arc<Diagnostics>) -> Self {
        Self {
            effect_props,
            is_instance,
            params: Mutex::default(),
            edit_depth: Mutex::new(0),
            diag,
        }
    }

    /// The parameter named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Param>> {
        lock(&self.params).iter().find(|p| p.name == name).cloned()
    }

    /// Defines a descriptor parameter (the body of `paramDefine`).
    pub fn define(
        &self,
        ty: ParamType,
        name: &CStr,
        lenient: bool,
    ) -> Result<Arc<Param>, OfxStatus> {
        let name_str = lossy(name);
        let mut params = lock(&self.params);
        if params.iter().any(|p| p.name == name_str) {
            return Err(kOfxStatErrExists);
        }
        let props = Arc::new(PropertySet::new(
            format!("parameter descriptor {name_str}"),
            lenient,
            self.diag.clone(),
        ));
        prop_schema::param_descriptor(&props, ty, name);
        let param = Arc::new(Param {
            name: name_str,
            ty,
            props,
            is_instance: false,
            state: Mutex::new(ParamState {
                value: Stored::Nothing,
                keys: Vec::new(),
                retired: Vec::new(),
            }),
            runtime: None,
        });
        registry::register(Object::Props(param.props.clone()));
        registry::register(Object::Param(param.clone()));
        params.push(param.clone());
        Ok(param)
    }

    /// Builds and registers an instance set from a descriptor set.
    pub fn instantiate(
        descriptor: &ParamSet,
        effect_props: Arc<PropertySet>,
        lenient: bool,
        runtime: &Arc<Runtime>,
    ) -> Arc<ParamSet> {
        let set = Arc::new(ParamSet::new(effect_props, true, descriptor.diag.clone()));
        for d in lock(&descriptor.params).iter() {
            let props = Arc::new(PropertySet::new(
                format!("parameter instance {}", d.name),
                lenient,
                descriptor.diag.clone(),
            ));
            props.copy_from(&d.props, Access::ReadWrite);
            prop_schema::param_instance(&props);
            let param = Arc::new(Param {
                name: d.name.clone(),
                ty: d.ty,
                props,
                is_instance: true,
                state: Mutex::new(ParamState {
                    value: Stored::Nothing,
                    keys: Vec::new(),
                    retired: Vec::new(),
                }),
                runtime: Some(runtime.clone()),
            });
            lock(&param.state).value = param.default_value();
            registry::register(Object::Props(param.props.clone()));
            registry::register(Object::Param(param.clone()));
            lock(&set.params).push(param);
        }
        set
    }

    /// Retires the set and every parameter in it.
    pub fn retire(self: &Arc<Self>) {
        for p in lock(&self.params).iter() {
            registry::retire(Arc::as_ptr(&p.props) as usize);
            registry::retire(Arc::as_ptr(p) as usize);
        }
        registry::retire(Arc::as_ptr(self) as usize);
    }
}
