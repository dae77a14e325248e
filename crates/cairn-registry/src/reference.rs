//! How a model is named wherever cairn takes one: a file path, or a registry reference in
//! MLflow's URI forms `models:/NAME/VERSION`, `models:/NAME/latest` and `models:/NAME@ALIAS`.

use std::fmt;
use std::path::PathBuf;

use crate::names::{check_alias, check_name, shown};

/// The scheme of registry references.
pub const SCHEME: &str = "models:/";

/// A model, by path or through the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A model file.
    Path(PathBuf),
    /// `models:/NAME/VERSION`.
    Version { name: String, version: u32 },
    /// `models:/NAME/latest`: the highest version.
    Latest { name: String },
    /// `models:/NAME@ALIAS`: the version the alias points at.
    Alias { name: String, alias: String },
}

impl ModelRef {
    /// Reads `text`: a registry reference when it starts with `models:/`, else a path.
    pub fn parse(text: &str) -> Result<ModelRef, String> {
        let Some(rest) = text.strip_prefix(SCHEME) else {
            if text.is_empty() {
                return Err("empty model reference: give a path or models:/NAME@ALIAS".into());
            }
            return Ok(ModelRef::Path(PathBuf::from(text)));
        };
        let usage = || {
            format!(
                "'{}' is not a model reference: write models:/NAME/VERSION, models:/NAME/latest \
                 or models:/NAME@ALIAS",
                shown(text)
            )
        };
        if let Some((name, alias)) = rest.split_once('@') {
            check_name(name).map_err(|e| format!("{}: {e}", usage()))?;
            check_alias(alias).map_err(|e| format!("{}: {e}", usage()))?;
            return Ok(ModelRef::Alias {
                name: name.into(),
                alias: alias.into(),
            });
        }
        let (name, version) = rest.split_once('/').ok_or_else(usage)?;
        check_name(name).map_err(|e| format!("{}: {e}", usage()))?;
        if version == "latest" {
            return Ok(ModelRef::Latest { name: name.into() });
        }
        // Digits only: `+3`, ` 3` and `03` are not versions anyone writes.
        let version = (!version.is_empty()
            && version.len() <= 9
            && version.bytes().all(|b| b.is_ascii_digit())
            && !version.starts_with('0'))
        .then(|| version.parse::<u32>().ok())
        .flatten()
        .ok_or_else(|| format!("{}: '{}' is not a version number", usage(), shown(version)))?;
        Ok(ModelRef::Version {
            name: name.into(),
            version,
        })
    }

    /// The registered model's name, for a registry reference.
    pub fn name(&self) -> Option<&str> {
        match self {
            ModelRef::Path(_) => None,
            ModelRef::Version { name, .. }
            | ModelRef::Latest { name }
            | ModelRef::Alias { name, .. } => Some(name),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Path(path) => write!(f, "{}", path.display()),
            ModelRef::Version { name, version } => write!(f, "{SCHEME}{name}/{version}"),
            ModelRef::Latest { name } => write!(f, "{SCHEME}{name}/latest"),
            ModelRef::Alias { name, alias } => write!(f, "{SCHEME}{name}@{alias}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflow_uri_forms_and_paths() {
        assert_eq!(
            ModelRef::parse("models:/iris/3"),
            Ok(ModelRef::Version {
                name: "iris".into(),
                version: 3
            })
        );
        assert_eq!(
            ModelRef::parse("models:/iris@production"),
            Ok(ModelRef::Alias {
                name: "iris".into(),
                alias: "production".into()
            })
        );
        assert_eq!(
            ModelRef::parse("models:/iris/latest"),
            Ok(ModelRef::Latest {
                name: "iris".into()
            })
        );
        assert_eq!(
            ModelRef::parse("models/model.json"),
            Ok(ModelRef::Path("models/model.json".into()))
        );
        for text in [
            "models:/iris/3",
            "models:/iris@production",
            "models:/iris/latest",
        ] {
            assert_eq!(
                ModelRef::parse(text).map(|r| r.to_string()),
                Ok(text.into())
            );
        }
    }

    #[test]
    fn malformed_references_say_what_to_write() {
        for bad in [
            "models:/",
            "models:/iris",
            "models:/iris/",
            "models:/iris/0",
            "models:/iris/03",
            "models:/iris/-1",
            "models:/iris/x",
            "models:/iris/99999999999",
            "models:/ir is/1",
            "models:/iris@",
            "models:/iris@v2",
            "models:/iris/1/2",
            "",
        ] {
            let e = ModelRef::parse(bad).expect_err(bad);
            assert!(e.contains("model"), "{bad}: {e}");
        }
    }
}
