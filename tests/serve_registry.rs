//! `cairn serve` following the registry: registry references, reload after promote and
//! rollback, `--watch`, the A/B split, the shadow, and the refusals.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::serve::http::{get, post_json, request};
use crate::serve::models::{LOGISTIC, REGRESSION, SETOSA, TREE, VIRGINICA};
use crate::serve::server::Server;
use crate::serve::wait_until;
use crate::support::Project;

/// A workspace whose registry has iris 1 (logistic, production) and 2 (tree).
fn registry() -> Project {
    let p = Project::new();
    p.write("logistic.json", LOGISTIC).write("tree.json", TREE);
    p.cairn(&["models", "register", "logistic.json", "--name", "iris"])
        .ok();
    p.cairn(&["models", "register", "tree.json", "--name", "iris"])
        .ok();
    p.cairn(&[
        "models",
        "promote",
        "models:/iris/1",
        "--alias",
        "production",
    ])
    .ok();
    p
}

/// [`registry`] with a folder remote as its default (the folder lives as long as the guard).
fn registry_with_remote() -> (tempfile::TempDir, Project) {
    let store = tempfile::tempdir().expect("tempdir");
    let origin = registry();
    origin
        .cairn(&[
            "remote",
            "add",
            "store",
            store.path().to_str().expect("utf-8"),
            "--default",
        ])
        .ok();
    (store, origin)
}

fn cache_object(p: &Project, model: &str) -> std::path::PathBuf {
    let digest = cairn_core::hash::digest_bytes(model.as_bytes()).to_string();
    p.join(&format!(
        ".cairn/cache/v1/{}/{}",
        &digest[..2],
        &digest[2..]
    ))
}

/// `POST /predict` with an `X-Request-Id`, or without one; the version that answered.
fn answered_by(addr: std::net::SocketAddr, id: Option<&str>) -> String {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(id) = id {
        headers.push(("X-Request-Id", id));
    }
    let reply = request(addr, "POST", "/predict", &headers, SETOSA.as_bytes()).expect("POST");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let header = reply.header("x-model-version").unwrap_or("").to_string();
    assert_eq!(
        reply.json()["model_version"],
        header.as_str(),
        "body and header agree"
    );
    header
}

#[test]
fn a_fresh_clone_pulls_and_serves_the_production_model_from_the_remote() {
    let (_store, origin) = registry_with_remote();
    origin.cairn(&["push"]).ok();

    // What a clone has: the committed registry and config, no cache.
    let clone = Project::new();
    clone.write("cairn-registry.yaml", origin.read("cairn-registry.yaml"));
    clone.write(".cairn/config.yaml", origin.read(".cairn/config.yaml"));
    assert!(!cache_object(&clone, LOGISTIC).exists());
    let s = Server::start(&clone, &["--model", "models:/iris@production"]);
    assert_eq!(answered_by(s.addr, None), "models:/iris/1");
    assert!(
        cache_object(&clone, LOGISTIC).exists(),
        "fetched into the cache"
    );
    let info = get(s.addr, "/model/info").expect(200);
    assert_eq!(info["name"], "iris");
    assert_eq!(info["models"][0]["role"], "primary");
    drop(s);

    // `cairn pull` brings every registered version.
    let other = Project::new();
    other.write("cairn-registry.yaml", origin.read("cairn-registry.yaml"));
    other.write(".cairn/config.yaml", origin.read(".cairn/config.yaml"));
    other.cairn(&["pull"]).ok();
    assert!(cache_object(&other, LOGISTIC).exists() && cache_object(&other, TREE).exists());
}

#[test]
fn a_pull_goes_on_without_a_lock_entry_no_remote_has() {
    // A version registered in another workspace whose lock entry never reached the remote
    // (registered from a dirty tree, then the lock moved on): its model is still there.
    let (_store, origin) = registry_with_remote();
    let lost = "ab".repeat(32);
    let registry = origin.read("cairn-registry.yaml").replacen(
        "\"version\": 1,",
        &format!("\"version\": 1, \"run\": \"{lost}\","),
        1,
    );
    assert!(registry.contains(&lost), "{registry}");
    origin.write("cairn-registry.yaml", &registry);
    origin
        .cairn(&["push"])
        .ok()
        .stderr_has(&["models:/iris/1 (its lock entry)"]);

    let clone = Project::new();
    clone.write("cairn-registry.yaml", &registry);
    clone.write(".cairn/config.yaml", origin.read(".cairn/config.yaml"));
    clone
        .cairn(&["pull"])
        .ok()
        .stderr_has(&["models:/iris/1 (its lock entry)", "is not on the remote"]);
    assert!(cache_object(&clone, LOGISTIC).exists() && cache_object(&clone, TREE).exists());
}

#[test]
fn promote_or_rollback_then_reload_switches_models_with_no_failed_request() {
    let p = registry();
    let s = Server::start(&p, &["--model", "models:/iris@production"]);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, addr) = (stop.clone(), s.addr);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply = post_json(addr, "/predict", VIRGINICA);
                    assert_eq!(reply.status, 200, "a request failed: {}", reply.body);
                    seen.push(reply.header("x-model-version").unwrap_or("").to_string());
                }
                seen
            })
        })
        .collect();
    let now = || get(s.addr, "/model/info").expect(200)["version"].clone();
    p.cairn(&[
        "models",
        "promote",
        "models:/iris/2",
        "--alias",
        "production",
    ])
    .ok();
    // Until the reload, the server keeps what it resolved.
    assert_eq!(now(), "models:/iris/1");
    let reply = post_json(s.addr, "/reload", "").expect(200);
    assert_eq!(reply["model_version"], "models:/iris/2");
    assert_eq!(reply["previous_version"], "models:/iris/1");
    p.cairn(&["models", "rollback", "iris", "--alias", "production"])
        .ok();
    post_json(s.addr, "/reload", "").expect(200);
    assert_eq!(now(), "models:/iris/1");
    // A reload can also name a version.
    let reply = post_json(s.addr, "/reload", r#"{"model": "models:/iris/2"}"#).expect(200);
    assert_eq!(reply["model_version"], "models:/iris/2");
    std::thread::sleep(std::time::Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    assert!(
        seen.iter()
            .all(|v| v == "models:/iris/1" || v == "models:/iris/2")
    );
    assert!(seen.len() > 20, "the clients ran: {}", seen.len());
}

#[test]
fn watch_follows_the_registry_by_itself() {
    let p = registry();
    let s = Server::start(&p, &["--model", "models:/iris@production", "--watch"]);
    assert_eq!(answered_by(s.addr, None), "models:/iris/1");
    p.cairn(&[
        "models",
        "promote",
        "models:/iris/2",
        "--alias",
        "production",
    ])
    .ok();
    wait_until("the server to follow the promotion", || {
        answered_by(s.addr, None) == "models:/iris/2"
    });
    p.cairn(&["models", "rollback", "iris", "--alias", "production"])
        .ok();
    wait_until("the server to follow the rollback", || {
        answered_by(s.addr, None) == "models:/iris/1"
    });
}

#[test]
fn the_candidate_gets_its_share_sticky_per_request_id() {
    let p = registry();
    let s = Server::start(
        &p,
        &[
            "--model",
            "models:/iris@production",
            "--candidate",
            "models:/iris/2",
            "--split",
            "0.1",
        ],
    );
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    const N: usize = 10_000;
    for _ in 0..N {
        *counts.entry(answered_by(s.addr, None)).or_default() += 1;
    }
    let share = counts.get("models:/iris/2").copied().unwrap_or(0) as f64 / N as f64;
    assert!(
        (share - 0.1).abs() <= 0.02,
        "candidate share {share}: {counts:?}"
    );
    // An id always gets the same model; ids spread as asked too.
    let mut by_id = 0;
    for i in 0..1000 {
        let id = format!("client-{i}");
        let first = answered_by(s.addr, Some(&id));
        for _ in 0..3 {
            assert_eq!(answered_by(s.addr, Some(&id)), first, "{id}");
        }
        by_id += usize::from(first == "models:/iris/2");
    }
    assert!(
        (60..=140).contains(&by_id),
        "{by_id} of 1000 ids went to the candidate"
    );
    let info = get(s.addr, "/model/info").expect(200);
    let roles: Vec<&str> = info["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["primary", "candidate"]);
    assert_eq!(info["split"], 0.1);
}

#[test]
fn shadow_answers_are_counted_and_logged_but_never_returned() {
    let p = registry();
    let s = Server::start(
        &p,
        &[
            "--model",
            "models:/iris@production",
            "--shadow",
            "models:/iris/2",
            "--log-db",
            "log.sqlite",
        ],
    );
    for i in 0..200 {
        let body = if i % 2 == 0 { SETOSA } else { VIRGINICA };
        let reply = post_json(s.addr, "/predict", body);
        assert_eq!(reply.header("x-model-version"), Some("models:/iris/1"));
        let one = reply.expect(200);
        assert_eq!(one["model_version"], "models:/iris/1");
        // The tree's leaves hold round shares; the logistic's never do.
        let p = one["probabilities"]["setosa"].as_f64().unwrap_or(0.0);
        assert!(p != 1.0 && p != 0.0, "a shadow answer was returned: {one}");
    }
    // The MLflow and v2 routes answer from the primary too.
    let mlflow = post_json(
        s.addr,
        "/invocations",
        &format!(r#"{{"instances": [{SETOSA}]}}"#),
    );
    assert_eq!(mlflow.header("x-model-version"), Some("models:/iris/1"));
    // A v2 client names the registry's version number; the shadow's is not served.
    let ready = get(s.addr, "/v2/models/iris/versions/1/ready");
    assert_eq!(ready.expect(200)["ready"], true);
    get(s.addr, "/v2/models/iris/versions/2/ready").expect(404);
    let metrics = get(s.addr, "/metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"cairn_predictions_total{version="models:/iris/2"} 201"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"cairn_model_info{version="models:/iris/2",role="shadow""#));
    wait_until("the log to hold both models' rows", || {
        let rows = get(s.addr, "/predictions/history?limit=1000").json();
        rows["predictions"].as_array().map_or(0, Vec::len) >= 402
    });
    let rows = get(s.addr, "/predictions/history?limit=1000").json();
    let mut roles: BTreeMap<(String, String), usize> = BTreeMap::new();
    for row in rows["predictions"].as_array().expect("rows") {
        let key = (
            row["role"].as_str().unwrap_or("").to_string(),
            row["model_version"].as_str().unwrap_or("").to_string(),
        );
        *roles.entry(key).or_default() += 1;
    }
    let key = |r: &str, v: &str| (r.to_string(), v.to_string());
    assert_eq!(roles.get(&key("primary", "models:/iris/1")), Some(&201));
    assert_eq!(roles.get(&key("shadow", "models:/iris/2")), Some(&201));
}

#[test]
fn bad_starts_and_reloads_are_refused_and_the_old_model_keeps_serving() {
    let p = registry();
    p.write("regression.json", REGRESSION);
    p.cairn(&[
        "serve",
        "--port",
        "0",
        "--model",
        "models:/iris@production",
        "--candidate",
        "models:/iris/2",
        "--split",
        "1.5",
    ])
    .code(2)
    .stderr_has(&["--split 1.5", "between 0 and 1"]);
    p.cairn(&[
        "serve",
        "--port",
        "0",
        "--model",
        "models:/iris@production",
        "--candidate",
        "regression.json",
    ])
    .code(2)
    .stderr_has(&["--candidate regression.json", "rooms, age", "same features"]);
    p.cairn(&["serve", "--port", "0", "--model", "models:/iris@staging"])
        .code(2)
        .stderr_has(&["staging", "production"]);

    // Version 3's bytes are in neither the cache nor a remote.
    let third = LOGISTIC.replace("\"seed\": 42", "\"seed\": 3");
    p.write("third.json", &third);
    p.cairn(&["models", "register", "third.json", "--name", "iris"])
        .ok();
    std::fs::remove_file(cache_object(&p, &third)).expect("rm");
    let digest = cairn_core::hash::digest_bytes(third.as_bytes()).to_string();
    p.cairn(&["serve", "--port", "0", "--model", "models:/iris/3"])
        .code(1)
        .stderr_has(&["models:/iris/3", &digest, "neither the cache nor a remote"]);
    let s = Server::start(&p, &["--model", "models:/iris@production"]);
    p.cairn(&[
        "models",
        "promote",
        "models:/iris/3",
        "--alias",
        "production",
    ])
    .ok();
    let refused = post_json(s.addr, "/reload", "").expect(422);
    assert_eq!(refused["reloaded"], false);
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains(&digest)),
        "{refused}"
    );
    assert_eq!(answered_by(s.addr, None), "models:/iris/1");
}
