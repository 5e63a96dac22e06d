//! The deployment recipes under `deploy/` checked against the code's topology (issue #18): the
//! Dockerfile's stages, user and entrypoint; a Deployment, Service and PodDisruptionBudget for
//! every service the binary can run; an Ingress that never reaches `/v1/internal/*`; a compose
//! file that runs every service after the migration. Reads files only (no engine, no cluster);
//! `.ci/deploy-check` validates the same manifests against the Kubernetes schemas.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

#[allow(dead_code)]
#[path = "../api/harness.rs"]
mod harness;

mod images;
mod manifests;
mod traces;

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every document of a (multi-document) YAML file, `<<` merge keys applied.
fn yaml_docs(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}"));
            value.apply_merge().unwrap_or_else(|e| panic!("{path}: {e}"));
            value
        })
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

/// `value` at a path of keys (a number indexes a list); `Null` when absent.
fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    static NULL: Value = Value::Null;
    let mut node = value;
    for key in path {
        node = match key.parse::<usize>() {
            Ok(i) => node.get(i),
            Err(_) => node.get(*key),
        }
        .unwrap_or(&NULL);
    }
    node
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path).as_str().unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_sequence().map(|s| s.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// The services `city serve --only` runs, and the gateway: what a cluster runs twice each.
fn topology() -> BTreeSet<String> {
    city::SERVICES.iter().map(|s| s.to_string()).chain(["gateway".to_owned()]).collect()
}
