//! `POST /reload`: who may reload, and which model files a reload may read.
//!
//! Reloading is allowed with the bearer token of `CAIRN_RELOAD_TOKEN` when that is set, and
//! without one only when the server listens on loopback alone (127.0.0.0/8, ::1); otherwise it
//! is refused with 403. A reload reads the model the server started with, or a model file
//! inside the workspace: a path without `..` whose real location (symlinks resolved) is under
//! the workspace's root. Any other path is refused with 403 before it is touched.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::loaded::{LoadedModel, Role, is_reference};
use super::reply;
use super::routes::read_any_body;
use super::state::AppState;

/// Who may reload and what.
#[derive(Debug)]
pub struct ReloadPolicy {
    /// `CAIRN_RELOAD_TOKEN`, when set and not empty.
    token: Option<String>,
    /// The server listens on loopback only.
    loopback: bool,
    /// Where the server listens, for messages.
    bound: String,
    /// The current directory, against which relative paths resolve.
    cwd: PathBuf,
    /// The workspace's root as found from `cwd`, and its real location.
    workspace: Option<(PathBuf, PathBuf)>,
    /// The model the server started with, absolute, as given.
    start: PathBuf,
    /// Its real location, if it has one.
    start_real: Option<PathBuf>,
}

impl ReloadPolicy {
    /// The policy of a server bound to `bound`, started in `cwd` with the model at `start`.
    pub fn new(
        token: Option<String>,
        bound: std::net::SocketAddr,
        cwd: &Path,
        workspace: Option<&Path>,
        start: &Path,
    ) -> ReloadPolicy {
        let start = lexical(&cwd.join(start));
        ReloadPolicy {
            token: token.filter(|t| !t.is_empty()),
            loopback: bound.ip().to_canonical().is_loopback(),
            bound: bound.to_string(),
            cwd: cwd.to_path_buf(),
            workspace: workspace.map(|root| {
                let root = lexical(&cwd.join(root));
                let real = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
                (root, real)
            }),
            start_real: std::fs::canonicalize(&start).ok(),
            start,
        }
    }

    /// Whether `POST /reload` can succeed at all.
    pub fn enabled(&self) -> bool {
        self.token.is_some() || self.loopback
    }

    /// What turns reloading on, for the log and the 403.
    pub fn disabled_reason(&self) -> String {
        format!(
            "reloading is off: this server listens on {}, beyond loopback, and {} is not set; \
             set {} to a secret before starting `cairn serve` and send `Authorization: Bearer SECRET`, \
             or listen on 127.0.0.1 (--host)",
            self.bound,
            super::RELOAD_TOKEN_VAR,
            super::RELOAD_TOKEN_VAR
        )
    }

    /// Checks the `Authorization` header against the policy.
    fn authorize(&self, authorization: Option<&[u8]>) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return if self.loopback {
                Ok(())
            } else {
                Err(ApiError::new(StatusCode::FORBIDDEN, self.disabled_reason()))
            };
        };
        let given = authorization.and_then(bearer);
        // Digests compare in constant time, and hide the token's length too.
        if given.is_some_and(|g| blake3::hash(g) == blake3::hash(token.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "reloading needs `Authorization: Bearer TOKEN` with the token in {}",
                    super::RELOAD_TOKEN_VAR
                ),
            )
            .field("Authorization"))
        }
    }

    /// The file to read for a reload of `requested`, or of `current` (the model being served)
    /// when the body names none.
    pub fn resolve(&self, requested: Option<&Path>, current: &Path) -> Result<PathBuf, ApiError> {
        let path = requested.unwrap_or(current);
        let refused = |why: String| {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{why}; a reload reads only the model the server started with ({}) or a model file inside the workspace{}",
                    self.start.display(),
                    self.workspace
                        .as_ref()
                        .map_or(String::new(), |(root, _)| format!(" ({})", root.display()))
                ),
            )
            .field("model"))
        };
        if path.components().any(|c| c == Component::ParentDir) {
            return refused(format!("{} contains '..'", path.display()));
        }
        let absolute = lexical(&self.cwd.join(path));
        if absolute == self.start {
            return Ok(absolute);
        }
        let Some((root, real_root)) = &self.workspace else {
            return refused(format!(
                "{} is not the model the server started with, and the server runs outside a cairn workspace",
                path.display()
            ));
        };
        if !(absolute.starts_with(root) || absolute.starts_with(real_root)) {
            return refused(format!("{} is outside the workspace", path.display()));
        }
        let real = match std::fs::canonicalize(&absolute) {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::unprocessable(format!(
                    "{}: model file not found",
                    path.display()
                ))
                .field("model"));
            }
            Err(e) => {
                return Err(
                    ApiError::unprocessable(format!("{}: {e}", path.display())).field("model")
                );
            }
        };
        if real.starts_with(real_root) || self.start_real.as_ref() == Some(&real) {
            // Read what was checked, not a path whose links could change meanwhile.
            Ok(real)
        } else {
            refused(format!(
                "{} leads through a symlink to {}, outside the workspace",
                path.display(),
                real.display()
            ))
        }
    }
}

/// The credentials of an `Authorization: Bearer TOKEN` header; the scheme is
/// case-insensitive (RFC 7235).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let space = header.iter().position(|b| *b == b' ' || *b == b'\t')?;
    let (scheme, token) = header.split_at(space);
    let token = token.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

/// `path` without `.` components and repeated separators (no file system access).
fn lexical(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Optional body of `POST /reload`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadRequest {
    /// A model to serve instead of the current one: a file, or a registry reference.
    model: Option<String>,
}

/// Why a reload did not happen.
enum ReloadError {
    /// The request may not read what it names (the policy's answer, as it is).
    Refused(ApiError),
    /// A model did not load, or does not stand beside the others.
    Failed(String),
}

impl ReloadError {
    fn message(&self) -> &str {
        match self {
            ReloadError::Refused(e) => &e.error,
            ReloadError::Failed(why) => why,
        }
    }
}

/// One slot's swap.
struct Swap {
    role: Role,
    old: Arc<LoadedModel>,
    new: Arc<LoadedModel>,
}

/// `POST /reload`: reads every model again from where it came from (a file, or a registry
/// reference resolved anew, so an alias moved by `cairn models promote` or `rollback` takes
/// effect), or serves the model the body names instead of the primary. Models that do not load,
/// or that no longer read the primary's features, leave every old one serving.
pub async fn reload(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    state
        .reload
        .authorize(request.headers().get(AUTHORIZATION).map(|v| v.as_bytes()))?;
    let body: Bytes = read_any_body(request, &()).await?;
    let request: ReloadRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReloadRequest { model: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::unprocessable(format!(
                "the body of /reload is empty or {{\"model\": \"PATH or models:/NAME@ALIAS\"}}: {e}"
            ))
        })?
    };
    let _one_at_a_time = state.reload_lock.lock().await;
    let old = state.model.load_full();
    match reload_all(&state, request.model).await {
        Err(ReloadError::Refused(e)) => Err(e),
        Ok(swaps) => {
            let primary = state.model.load_full();
            let models: Vec<_> = swaps
                .iter()
                .map(|s| json!({"role": s.role.name(), "model_version": s.new.version, "previous_version": s.old.version}))
                .collect();
            Ok(reply::json(
                StatusCode::OK,
                &json!({"reloaded": true, "model_version": primary.version, "previous_version": old.version, "models": models}),
            ))
        }
        Err(ReloadError::Failed(why)) => Ok(reply::json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({
                "reloaded": false,
                "error": format!("{why}; still serving the previous model"),
                "model_version": old.version,
            }),
        )),
    }
}

impl Swap {
    fn changed(&self) -> bool {
        self.old.digest != self.new.digest || self.old.version != self.new.version
    }
}

/// Loads every slot again (the primary from `primary` when given), checks that they still
/// stand together, and swaps them all in; on any failure nothing is swapped. The caller holds
/// the reload lock.
async fn reload_all(state: &AppState, primary: Option<String>) -> Result<Vec<Swap>, ReloadError> {
    let swaps = load_all(state, primary).await.inspect_err(|e| {
        state.metrics.reloaded(false);
        tracing::error!(
            "reload refused, still serving {}: {}",
            state.model.load().version,
            e.message()
        );
    })?;
    for swap in &swaps {
        if swap.changed() {
            tracing::info!(role = swap.role.name(), from = %swap.old.version, to = %swap.new.version, "model reloaded");
        }
        let slot = match swap.role {
            Role::Primary => Some(&state.model),
            Role::Candidate => state.candidate.as_ref(),
            Role::Shadow => state.shadow.as_ref(),
        };
        if let Some(slot) = slot {
            slot.store(Arc::clone(&swap.new));
        }
    }
    state.metrics.reloaded(true);
    Ok(swaps)
}

async fn load_all(state: &AppState, primary: Option<String>) -> Result<Vec<Swap>, ReloadError> {
    let mut swaps = Vec::new();
    let old = state.model.load_full();
    let requested = primary.is_some();
    let source = primary.unwrap_or_else(|| old.source.clone());
    let new = load_one(state, &source, requested, Role::Primary, &old).await?;
    for (slot, role) in [
        (&state.candidate, Role::Candidate),
        (&state.shadow, Role::Shadow),
    ] {
        let Some(slot) = slot else { continue };
        let old = slot.load_full();
        // A reload naming a new primary leaves the others as they are.
        let loaded = if requested {
            Arc::clone(&old)
        } else {
            load_one(state, &old.source.clone(), false, role, &old).await?
        };
        if let Some(why) = new.mismatch(&loaded) {
            return Err(ReloadError::Failed(format!(
                "the {} cannot stand beside the primary: {why}",
                role.name()
            )));
        }
        swaps.push(Swap {
            role,
            old,
            new: loaded,
        });
    }
    swaps.insert(
        0,
        Swap {
            role: Role::Primary,
            old,
            new,
        },
    );
    Ok(swaps)
}

/// Loads `source` for `role` off the async threads: a registry reference through the
/// resolver, a file through the policy (`requested`: named by the body rather than the one the
/// slot had).
async fn load_one(
    state: &AppState,
    source: &str,
    requested: bool,
    role: Role,
    old: &LoadedModel,
) -> Result<Arc<LoadedModel>, ReloadError> {
    let path = if is_reference(source) {
        None
    } else {
        let asked = requested.then(|| Path::new(source));
        Some(
            state
                .reload
                .resolve(asked, &old.path)
                .map_err(ReloadError::Refused)?,
        )
    };
    let loader = Arc::clone(state);
    let source = source.to_string();
    let loaded = tokio::task::spawn_blocking(move || match path {
        Some(path) => LoadedModel::load(&path, role, &loader.metrics),
        None => LoadedModel::open(&source, loader.resolver.as_ref(), role, &loader.metrics),
    })
    .await
    .map_err(|e| ReloadError::Failed(format!("reload failed: {e}")))?;
    loaded
        .map(Arc::new)
        .map_err(|e| ReloadError::Failed(e.to_string()))
}

/// `--watch`: reloads every model whenever `file` (the registry) changes, polled twice a
/// second (a registry is written by atomic rename, which every file system shows as a new
/// modification time and inode).
pub async fn watch(state: AppState, file: PathBuf) {
    let stamp = |file: &Path| {
        std::fs::metadata(file).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            (m.len(), m.mtime(), m.mtime_nsec(), m.ino())
        })
    };
    let mut last = stamp(&file);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let now = stamp(&file);
        if now == last {
            continue;
        }
        last = now;
        let _one_at_a_time = state.reload_lock.lock().await;
        match reload_all(&state, None).await {
            Ok(_) => {}
            Err(e) => {
                tracing::error!(file = %file.display(), "registry changed, reload refused: {}", e.message())
            }
        }
    }
}

impl ReloadPolicy {
    #[cfg(test)]
    fn for_test(token: Option<&str>, loopback: bool, cwd: &Path, start: &Path) -> ReloadPolicy {
        let ip = if loopback { "127.0.0.1:1" } else { "0.0.0.0:1" };
        ReloadPolicy::new(
            token.map(str::to_string),
            ip.parse().expect("address"),
            cwd,
            Some(cwd),
            start,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for header in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "bEaReR   abc ",
            "Bearer\tabc",
        ] {
            assert_eq!(bearer(header.as_bytes()), Some(&b"abc"[..]), "{header}");
        }
        for header in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "abc", ""] {
            assert_eq!(bearer(header.as_bytes()), None, "{header}");
        }
    }

    #[test]
    fn tokens_and_loopback_decide_who_may_reload() {
        let dir = Path::new("/nonexistent-ws");
        let open = ReloadPolicy::for_test(None, true, dir, Path::new("m.json"));
        assert!(open.authorize(None).is_ok());
        let exposed = ReloadPolicy::for_test(None, false, dir, Path::new("m.json"));
        assert_eq!(
            exposed.authorize(Some(b"Bearer x")).map_err(|e| e.status),
            Err(StatusCode::FORBIDDEN)
        );
        let guarded = ReloadPolicy::for_test(Some("s3cret"), false, dir, Path::new("m.json"));
        assert!(guarded.authorize(Some(b"bearer s3cret")).is_ok());
        for wrong in [None, Some(&b"Bearer s3cre"[..]), Some(b"Basic s3cret")] {
            assert_eq!(
                guarded.authorize(wrong).map_err(|e| e.status),
                Err(StatusCode::UNAUTHORIZED)
            );
        }
        let v6: std::net::SocketAddr = "[::1]:1".parse().expect("address");
        assert!(ReloadPolicy::new(None, v6, dir, None, dir).enabled());
    }

    #[test]
    fn paths_outside_the_workspace_are_refused_before_they_are_touched() {
        let ws = Path::new("/nonexistent-ws");
        let policy = ReloadPolicy::for_test(None, true, ws, Path::new("models/m.json"));
        let current = Path::new("models/m.json");
        assert_eq!(
            policy.resolve(None, current).ok(),
            Some(PathBuf::from("/nonexistent-ws/models/m.json"))
        );
        assert_eq!(
            policy
                .resolve(Some(Path::new("/nonexistent-ws/./models//m.json")), current)
                .ok(),
            Some(PathBuf::from("/nonexistent-ws/models/m.json"))
        );
        for outside in ["/etc/passwd", "../outside.json", "models/../../x.json"] {
            let err = policy
                .resolve(Some(Path::new(outside)), current)
                .expect_err(outside);
            assert_eq!(err.status, StatusCode::FORBIDDEN, "{outside}");
            assert_eq!(err.field.as_deref(), Some("model"));
        }
        // Inside, but missing: 422 as for any model file that cannot be read.
        let err = policy
            .resolve(Some(Path::new("other.json")), current)
            .expect_err("missing");
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
