//! Reading, parsing and writing manifest files.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::json_path::JsonPath;
use super::{FunctionEntry, Manifest, ResourceConfig};
use crate::error::{ManifestError, ManifestOrigin};

impl Manifest {
    /// Parses manifest JSON without validating it (see [`Manifest::validate`]).
    ///
    /// # Errors
    ///
    /// [`ManifestError::Parse`] when the text is not JSON or does not have the manifest's shape,
    /// with serde's 1-based line and column. For a shape error the message also names the JSON
    /// path of the offending value when it can be found.
    pub fn from_json_str(text: &str, origin: ManifestOrigin) -> Result<Self, ManifestError> {
        serde_json::from_str(text).map_err(|err| parse_error(text, &err, origin))
    }

    /// Reads and parses a manifest file, without validating it.
    ///
    /// For tools that want to show a manifest even when it breaks rules; everything that acts on a
    /// manifest should use [`Manifest::from_path`].
    ///
    /// # Errors
    ///
    /// [`ManifestError::Read`] or [`ManifestError::Parse`].
    pub fn from_path_unvalidated(path: &Path) -> Result<Self, ManifestError> {
        let origin = ManifestOrigin::File(path.to_owned());
        match fs::read_to_string(path) {
            Ok(text) => Self::from_json_str(&text, origin),
            Err(source) => Err(ManifestError::Read { origin, source }),
        }
    }

    /// Reads, parses and validates a manifest file.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Read`] naming the file, [`ManifestError::Parse`], or
    /// [`ManifestError::Invalid`] listing every problem found.
    pub fn from_path(path: &Path) -> Result<Self, ManifestError> {
        let manifest = Self::from_path_unvalidated(path)?;
        manifest.validate(&ManifestOrigin::File(path.to_owned()))?;
        Ok(manifest)
    }

    /// The manifest as JSON with 2-space indentation and a trailing newline, keys in the order
    /// Python Flash writes them (unknown keys last).
    pub fn to_json_pretty(&self) -> String {
        // Every map in these types has string keys and every number comes from JSON, so
        // serialization has no way to fail.
        let mut text =
            serde_json::to_string_pretty(self).expect("manifest types always serialize to JSON");
        text.push('\n');
        text
    }

    /// Writes the manifest to `path` atomically.
    ///
    /// The text goes to a temporary file in the same directory, which is then renamed over
    /// `path`: a reader (a worker starting, say) sees the old file or the new one, never half of
    /// one. An existing file's permissions are kept.
    ///
    /// # Errors
    ///
    /// [`ManifestError::Write`] naming `path`.
    pub fn save(&self, path: &Path) -> Result<(), ManifestError> {
        write_atomically(path, self.to_json_pretty().as_bytes()).map_err(|source| {
            ManifestError::Write {
                origin: ManifestOrigin::File(path.to_owned()),
                source,
            }
        })
    }
}

/// Tells apart the temporary files of concurrent saves within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Same directory, hence same filesystem, so the rename is atomic.
    let temp = dir.join(format!(
        ".{}.{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if let Ok(existing) = fs::metadata(path) {
            fs::set_permissions(&temp, existing.permissions())?;
        }
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        // Best effort: the write already failed, and a leftover temp file is only clutter.
        let _ = fs::remove_file(&temp);
    }
    result
}

fn parse_error(text: &str, err: &serde_json::Error, origin: ManifestOrigin) -> ManifestError {
    let full = err.to_string();
    // serde_json appends the position to its message; it is reported in its own fields.
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let mut message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    if err.classify() == serde_json::error::Category::Data
        && let Some(path) = locate_shape_error(text)
    {
        message = format!("{path}: {message}");
    }
    ManifestError::Parse {
        origin,
        line: err.line().max(1),
        column: err.column().max(1),
        message,
    }
}

/// Finds the JSON path of the value that does not fit the manifest's shape.
///
/// The `#[serde(flatten)]` maps that keep unknown keys make serde buffer each struct, which loses
/// the field name in type errors ("invalid type: string, expected u32" about which field?). So on
/// failure the text is parsed again as plain JSON and each value is tried on its own.
fn locate_shape_error(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    let root = JsonPath::root();
    let Value::Object(top) = &value else {
        return Some(root.into_string());
    };
    let key = first_bad_key::<Manifest>(top, &[])?;
    let path = root.key(key);
    let Some(Value::Object(resources)) = top.get(key).filter(|_| key == "resources") else {
        return Some(path.into_string());
    };
    for (name, resource) in resources {
        let resource_path = path.key(name);
        if fits::<ResourceConfig>(resource) {
            continue;
        }
        let Value::Object(fields) = resource else {
            return Some(resource_path.into_string());
        };
        let Some(field) = first_bad_key::<ResourceConfig>(fields, &[]) else {
            return Some(resource_path.into_string());
        };
        let field_path = resource_path.key(field);
        let Some(Value::Array(functions)) = fields.get(field).filter(|_| field == "functions")
        else {
            return Some(field_path.into_string());
        };
        for (i, function) in functions.iter().enumerate() {
            if fits::<FunctionEntry>(function) {
                continue;
            }
            let function_path = field_path.index(i);
            let bad = match function {
                Value::Object(fields) => {
                    first_bad_key::<FunctionEntry>(fields, &[("name", Value::from("f"))])
                }
                _ => None,
            };
            return Some(
                match bad {
                    Some(key) => function_path.key(key),
                    None => function_path,
                }
                .into_string(),
            );
        }
        return Some(field_path.into_string());
    }
    Some(path.into_string())
}

fn fits<T: DeserializeOwned>(value: &Value) -> bool {
    T::deserialize(value).is_ok()
}

/// The first key of `object` whose value alone (beside `required` stand-ins) does not deserialize
/// as `T`.
fn first_bad_key<'a, T: DeserializeOwned>(
    object: &'a Map<String, Value>,
    required: &[(&str, Value)],
) -> Option<&'a str> {
    object.iter().find_map(|(key, value)| {
        let mut single: Map<String, Value> = required
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        single.insert(key.clone(), value.clone());
        (!fits::<T>(&Value::Object(single))).then_some(key.as_str())
    })
}
