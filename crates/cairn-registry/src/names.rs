//! Model names and alias names: what `models:/NAME/VERSION` and `models:/NAME@ALIAS` can carry,
//! and how either is written as a key of the registry file.
//!
//! Both are narrower than MLflow's (which takes nearly any text for a name): a name is also a
//! part of a URI and of Prometheus labels, and a key someone reviews in a diff, so it keeps to
//! letters, digits and `_.-`. An alias may not look like a version (`v3`) or be `latest`, which
//! `models:/NAME/latest` means, as MLflow refuses them.

use std::borrow::Cow;

/// Longest model name.
const NAME_MAX: usize = 128;
/// Longest alias.
const ALIAS_MAX: usize = 64;

/// Checks a model name: 1 to 128 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a model name: use 1 to {NAME_MAX} letters, digits, '_', '.' or '-', \
             starting with a letter or digit (e.g. iris)",
            shown(name)
        ))
    }
}

/// Checks an alias: 1 to 64 of `A-Z a-z 0-9 _ -` starting with a letter, not `latest` and not
/// a version (`v3`).
pub fn check_alias(alias: &str) -> Result<(), String> {
    let well_formed = !alias.is_empty()
        && alias.len() <= ALIAS_MAX
        && alias.starts_with(|c: char| c.is_ascii_alphabetic())
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if !well_formed {
        return Err(format!(
            "'{}' is not an alias: use 1 to {ALIAS_MAX} letters, digits, '_' or '-', starting \
             with a letter (e.g. production, staging, candidate)",
            shown(alias)
        ));
    }
    let lower = alias.to_ascii_lowercase();
    let looks_like_version =
        lower.len() > 1 && lower.starts_with('v') && lower[1..].bytes().all(|b| b.is_ascii_digit());
    if lower == "latest" || looks_like_version {
        return Err(format!(
            "'{alias}' cannot be an alias: it would read as a version (models:/NAME/latest, \
             models:/NAME/3); choose another name"
        ));
    }
    Ok(())
}

/// `key` as the registry file writes it: plain when YAML reads it back as that same string,
/// else double-quoted (a name `1.0` would otherwise read as a number, `no` as false).
pub fn yaml_key(key: &str) -> Cow<'_, str> {
    const YAML_WORDS: [&str; 12] = [
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf", "infinity",
    ];
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !YAML_WORDS.contains(&key.to_ascii_lowercase().as_str());
    if plain {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(serde_json::Value::from(key).to_string())
    }
}

/// Hostile text shown in a message: short, control characters escaped.
pub fn shown(text: &str) -> String {
    text.chars().take(80).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_to_uri_safe_characters() {
        for good in ["iris", "Iris-2", "a", "m.v1_x", "0day"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "-x", "a/b", "a@b", "a b", "é", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aliases_may_not_read_as_versions() {
        for good in [
            "production",
            "staging",
            "candidate",
            "champion_2",
            "v",
            "vX",
        ] {
            assert_eq!(check_alias(good), Ok(()), "{good}");
        }
        for bad in ["", "latest", "LATEST", "v3", "V12", "3", "_x", "a.b", "a@b"] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_yaml_would_misread_are_quoted() {
        assert_eq!(yaml_key("iris"), "iris");
        assert_eq!(yaml_key("production"), "production");
        assert_eq!(yaml_key("1.0"), "\"1.0\"");
        assert_eq!(yaml_key("no"), "\"no\"");
        assert_eq!(yaml_key("On"), "\"On\"");
        assert_eq!(yaml_key("0day"), "\"0day\"");
    }
}
