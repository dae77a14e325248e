//! A model named on the command line (a path, `models:/NAME/VERSION`, `models:/NAME@ALIAS`)
//! turned into a loaded model: through the registry and the cache, and from the default remote
//! when the cache lacks the bytes.

use std::path::{Path, PathBuf};

use cairn_core::cache::ObjectStore;
use cairn_core::error::{Error, Result};
use cairn_core::lock::LockedPath;
use cairn_core::rel_path::RelPath;
use cairn_core::workspace::Workspace;
use cairn_ml::model::Model;
use cairn_registry::{ModelFormat, ModelRef, Registry};

/// A model read for use.
pub struct Resolved {
    /// The model.
    pub model: Model,
    /// The file it came from, or its object in the cache.
    pub path: PathBuf,
    /// How to name it: the path, or `models:/NAME/VERSION`.
    pub label: String,
    /// Its registry name and version, when it came through the registry.
    pub version: Option<(String, u32)>,
}

/// Parses `text` as a model reference, naming the flag on error.
pub fn parse(flag: &str, text: &str) -> Result<ModelRef> {
    ModelRef::parse(text).map_err(|e| Error::Usage(format!("{flag} {text}: {e}")))
}

/// Reads the model `reference` names. A path is read as it is (relative to `cwd`); a registry
/// reference needs the workspace `ws`.
pub fn resolve(ws: Option<&Workspace>, cwd: &Path, reference: &ModelRef) -> Result<Resolved> {
    let ModelRef::Path(path) = reference else {
        let ws = ws.ok_or_else(|| {
            Error::Usage(format!(
                "{reference} names a model of a registry, and there is no cairn workspace here; run from the project (or -C DIR)"
            ))
        })?;
        return from_registry(ws, reference);
    };
    let path = cwd.join(path);
    Ok(Resolved {
        model: Model::load(&path)?,
        label: path.display().to_string(),
        path,
        version: None,
    })
}

/// A registry version's model file, checked against its digest.
pub struct VersionBytes {
    /// The model file.
    pub bytes: Vec<u8>,
    /// Its object in the cache.
    pub path: PathBuf,
    /// `models:/NAME/VERSION`.
    pub label: String,
    /// The model's name and the version's number.
    pub version: (String, u32),
}

/// The bytes of the version `reference` names, from the cache, fetched from the default remote
/// first when the cache lacks them.
pub fn resolve_bytes(ws: &Workspace, reference: &ModelRef) -> Result<VersionBytes> {
    let registry = Registry::read(ws)?;
    let (name, version) = registry.data.resolve(reference)?;
    let label = cairn_registry::label(name, version.version);
    let store = ObjectStore::open(ws)?;
    let bytes = match cairn_registry::model_bytes(&store, name, version) {
        Err(Error::Missing { .. }) => {
            fetch(ws, &label, version)?;
            cairn_registry::model_bytes(&store, name, version)?
        }
        other => other?,
    };
    Ok(VersionBytes {
        bytes,
        path: store.path(&version.digest),
        label,
        version: (name.to_string(), version.version),
    })
}

/// A registry version as a cairn model: for the commands that read what only cairn's model
/// files hold (the training profile, the training metrics). `serve` takes ONNX versions too.
fn from_registry(ws: &Workspace, reference: &ModelRef) -> Result<Resolved> {
    let registry = Registry::read(ws)?;
    let (name, version) = registry.data.resolve(reference)?;
    if version.format == ModelFormat::Onnx {
        return Err(Error::Usage(format!(
            "{} is an ONNX model; this command reads cairn model files (`cairn serve` serves ONNX models)",
            cairn_registry::label(name, version.version)
        )));
    }
    let found = resolve_bytes(ws, reference)?;
    Ok(Resolved {
        model: Model::from_slice(&found.bytes, Path::new(&found.label))?,
        path: found.path,
        label: found.label,
        version: Some(found.version),
    })
}

/// Brings a version's bytes from the default remote into the cache.
fn fetch(ws: &Workspace, label: &str, version: &cairn_registry::Version) -> Result<()> {
    let missing = || {
        Error::Failed(format!(
            "{label} (object {}) is in neither the cache nor a remote: push it from where it was registered (`cairn push`), or register the model again",
            version.digest
        ))
    };
    if ws.config()?.remotes.is_empty() {
        return Err(missing());
    }
    let Ok(path) = RelPath::parse(label) else {
        return Err(missing());
    };
    let _lock = ws.lock("fetch")?;
    let object = LockedPath {
        path,
        digest: version.digest.clone(),
        size: version.size,
        nfiles: None,
    };
    cairn_remote::fetch_objects(ws, None, vec![object]).map_err(|e| match e {
        Error::Remote { remote, message } => Error::Remote {
            remote,
            message: format!("{label} (object {}): {message}", version.digest),
        },
        other => other,
    })?;
    Ok(())
}
