//! Which remote the objects of each tracked path travel to and from, as DVC routes them: an out
//! with `remote: NAME` uses that remote instead of the default one, an out with `push: false`
//! is never sent (so no remote has it, and a fetch does not ask). With `--remote NAME`, outs
//! that name another remote are left out, as `dvc push -r NAME` leaves them.

use std::collections::BTreeMap;

use cairn_core::error::{Error, Result};
use cairn_core::lock::LockedPath;
use cairn_core::refs::Routes;
use cairn_core::workspace::Workspace;

/// Tracked paths grouped by remote: `None` is the remote `--remote` names, else the default.
pub(crate) struct Plan {
    pub groups: BTreeMap<Option<String>, Vec<LockedPath>>,
    /// Outs that do not travel this time, each with why (one line each, for the report).
    pub left_out: Vec<String>,
}

/// Groups `items` (the workspace path that finds an item's route, and what to move) by remote.
/// `wanted` is `--remote`; `pushing` words the reasons. A remote an out names that is not
/// configured is an error naming the stage, the out and the remote (exit 2).
pub(crate) fn plan(
    ws: &Workspace,
    routes: &Routes,
    items: Vec<(String, LockedPath)>,
    wanted: Option<&str>,
    pushing: bool,
) -> Result<Plan> {
    let config = ws.config()?;
    // The default's name, when there is one, so that an out naming it travels with the rest.
    let default = match wanted {
        Some(w) => Some(w.to_string()),
        None => crate::config::resolve_name(&config, None, &ws.config_path(false)).ok(),
    };
    let mut groups: BTreeMap<Option<String>, Vec<LockedPath>> = BTreeMap::new();
    let mut left_out = Vec::new();
    let mut leave = |line: String| {
        if !left_out.contains(&line) {
            left_out.push(line);
        }
    };
    for (path, tracked) in items {
        let Some(route) = routes.get(&path) else {
            groups.entry(None).or_default().push(tracked);
            continue;
        };
        let out = format!("stage '{}': out '{path}'", route.stage);
        if !route.push {
            leave(if pushing {
                format!("{out} has push: false")
            } else {
                format!("{out} has push: false, so no remote has it")
            });
            continue;
        }
        match (&route.remote, wanted) {
            (None, _) => groups.entry(None).or_default().push(tracked),
            (Some(name), _) if default.as_ref() == Some(name) => {
                groups.entry(None).or_default().push(tracked);
            }
            (Some(name), Some(asked)) => leave(format!(
                "{out} goes to remote '{name}', not '{asked}' (leave out --remote to move it)"
            )),
            (Some(name), None) => {
                if !config.remotes.contains_key(name) {
                    let known: Vec<&str> = config.remotes.keys().map(String::as_str).collect();
                    return Err(Error::invalid(
                        ws.pipeline_path(),
                        format!(
                            "{out}: remote '{name}' is not configured (configured: {}); add it \
                             with `cairn remote add {name} URL`",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
                groups.entry(Some(name.clone())).or_default().push(tracked);
            }
        }
    }
    Ok(Plan { groups, left_out })
}
