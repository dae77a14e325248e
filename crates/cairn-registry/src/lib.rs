//! cairn's model registry: versions of named models, aliases that point at them and the
//! history of every alias move, in one committed YAML file at the workspace root
//! (`cairn-registry.yaml`), with the model bytes in the content-addressed cache so that they
//! travel with push and pull. No server: the file is the registry, git its audit trail.
//!
//! Builds on the core (workspace, cache, lock) and the ML crate (model files, scoring); the
//! server and the binary build on it.

pub mod compare;
pub mod file;
pub mod names;
pub mod ops;
pub mod provenance;
pub mod reference;
pub mod register;
pub mod store;
mod text;

use std::path::PathBuf;

use cairn_core::cache::ObjectStore;
use cairn_core::error::{Error, Result};
use cairn_core::lock::LockedPath;
use cairn_core::rel_path::RelPath;

pub use file::{Action, AliasMove, ModelFormat, RegisteredModel, RegistryData, Version};
pub use ops::{Moved, Registered};
pub use reference::ModelRef;
pub use store::Registry;

/// The model file of `name` version `version`, read from the cache and checked against its
/// digest; [`Error::Missing`] when the cache lacks it (the caller may fetch it).
pub fn model_bytes(store: &ObjectStore, name: &str, version: &Version) -> Result<Vec<u8>> {
    let path = store.path(&version.digest);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let actual = cairn_core::hash::digest_bytes(&bytes);
            if actual == version.digest {
                Ok(bytes)
            } else {
                Err(Error::Corrupt {
                    digest: version.digest.clone(),
                    path,
                    actual,
                })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Missing {
            digest: version.digest.clone(),
            path: PathBuf::from(label(name, version.version)),
        }),
        Err(e) => Err(Error::Io { path, source: e }),
    }
}

/// `models:/NAME/VERSION`.
pub fn label(name: &str, version: u32) -> String {
    format!("{}{name}/{version}", reference::SCHEME)
}

/// The objects a registry references, named `models:/NAME/VERSION` for messages, as push,
/// pull and gc take objects beyond the workspace's own.
#[derive(Debug, Default)]
pub struct RegistryObjects {
    /// Each version's model file: what serving it needs.
    pub models: Vec<LockedPath>,
    /// Each version's lock entry: where it came from, which nothing needs to serve or rebuild
    /// it, so a pull goes on without one the remote lacks.
    pub lock_entries: Vec<LockedPath>,
}

impl RegistryObjects {
    /// Both kinds, for push and gc.
    pub fn all(self) -> Vec<LockedPath> {
        let mut all = self.models;
        all.extend(self.lock_entries);
        all
    }
}

/// Every object the registry references.
pub fn objects(data: &RegistryData) -> RegistryObjects {
    let mut objects = RegistryObjects::default();
    for (name, model) in &data.models {
        for v in &model.versions {
            let label = label(name, v.version);
            let Ok(path) = RelPath::parse(&label) else {
                continue;
            };
            objects.models.push(LockedPath {
                path: path.clone(),
                digest: v.digest.clone(),
                size: v.size,
                nfiles: None,
            });
            if let (Some(run), Ok(run_path)) =
                (&v.run, RelPath::parse(&format!("{label} (its lock entry)")))
            {
                objects.lock_entries.push(LockedPath {
                    path: run_path,
                    digest: run.clone(),
                    size: 0,
                    nfiles: None,
                });
            }
        }
    }
    objects
}
