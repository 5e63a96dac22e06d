//! The container image's recipe and its build context; the compose file.

use super::*;

/// The Dockerfile's instructions, `\` continuations joined, comments dropped.
fn instructions() -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in read("deploy/Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let (op, rest) = pending.split_once(' ').unwrap_or((&pending, ""));
        out.push((op.to_ascii_uppercase(), rest.trim().to_owned()));
        pending.clear();
    }
    out
}

/// One instruction: its keyword (upper case) and the rest of it.
type Instruction = (String, String);

/// A stage: its name, its base image and its instructions.
type Stage = (String, String, Vec<Instruction>);

/// The stages in order.
fn stages() -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for (op, rest) in instructions() {
        if op == "FROM" {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                _ => String::new(),
            };
            stages.push((name, words[0].to_owned(), Vec::new()));
        } else if let Some(stage) = stages.last_mut() {
            stage.2.push((op, rest));
        }
    }
    stages
}

#[test]
fn the_image_builds_dependencies_first_and_runs_one_binary_unprivileged() {
    let stages = stages();
    let names: Vec<&str> = stages.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["skeleton", "build", "runtime"], "the Dockerfile's stages");
    let build_cmd = "cargo build --release --locked -p city-gateway --bin city";

    // The dependency layer: the skeleton's manifests in, dependencies compiled, and only then
    // the sources; a change to the code cannot invalidate the first build.
    let build = &stages[1].2;
    let position = |pred: &dyn Fn(&Instruction) -> bool| build.iter().position(pred);
    let skeleton =
        position(&|(op, rest)| op == "COPY" && rest.starts_with("--from=skeleton")).expect("COPY --from=skeleton");
    let deps = position(&|(op, rest)| op == "RUN" && rest.starts_with(build_cmd)).expect("a dependency build");
    let sources = position(&|(op, rest)| op == "COPY" && rest == ". .").expect("COPY . . of the sources");
    let app = position(&|(op, rest)| op == "RUN" && rest.contains(build_cmd) && rest.contains("touch"))
        .expect("the app build");
    assert!(skeleton < deps && deps < sources && sources < app, "skeleton, dependencies, sources, app: {build:?}");
    assert!(stages[0].2.iter().any(|(op, rest)| op == "RUN" && rest.contains("deploy/skeleton.sh")));

    // The runtime: a slim Debian, the one binary from the build stage, a user who is not root.
    let (_, base, runtime) = &stages[2];
    assert!(base.starts_with("debian:") && base.ends_with("-slim"), "runtime base {base}");
    let copies: Vec<&String> = runtime.iter().filter(|(op, _)| op == "COPY").map(|(_, r)| r).collect();
    assert_eq!(copies, ["--from=build /out/city /usr/local/bin/city"], "the runtime gets the binary only");
    let last = |op: &str| runtime.iter().rev().find(|(o, _)| o == op).map(|(_, r)| r.clone()).unwrap_or_default();
    let user = last("USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(!user.is_empty() && uid != "0" && uid != "root", "USER {user:?} must not be root");
    assert!(uid.parse::<u32>().is_ok(), "a numeric USER lets Kubernetes check runAsNonRoot: {user}");
    assert_eq!(last("ENTRYPOINT"), r#"["/usr/local/bin/city"]"#);
    assert_eq!(last("CMD"), r#"["serve"]"#);
    let health = last("HEALTHCHECK");
    assert!(health.contains("/healthz") && health.contains("127.0.0.1/8080"), "HEALTHCHECK {health}");
    let env = last("ENV");
    assert!(env.contains("CITY_LISTEN=0.0.0.0:8080"), "the process listens on the port the health check asks: {env}");
    // CI loads the skeleton this script makes (`cargo metadata --locked`), since no image is built here.
    assert!(read(".ci/deploy-check").contains("deploy/skeleton.sh"));
}

/// Whether `.dockerignore` leaves `path` (relative to the root) out of the build context.
fn ignored(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| {
        let p = p.trim_start_matches("**/");
        path == p || path.starts_with(&format!("{p}/")) || path.split('/').any(|part| part == p)
    })
}

#[test]
fn the_build_context_keeps_every_file_the_binary_compiles_in() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect();
    assert!(ignored(&patterns, "target/debug/city") && ignored(&patterns, ".git/HEAD"), "{patterns:?}");
    let mut included = 0;
    let mut stack = vec![root().join("services"), root().join("shared")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let code = std::fs::read_to_string(&path).unwrap();
            for piece in code.split("include_").skip(1) {
                let Some(rest) = piece.strip_prefix("str!(\"").or_else(|| piece.strip_prefix("bytes!(\"")) else {
                    continue;
                };
                let file = &rest[..rest.find('"').unwrap()];
                let full = path.parent().unwrap().join(file);
                let Ok(full) = full.canonicalize() else { continue };
                let relative = full.strip_prefix(root().canonicalize().unwrap()).unwrap().to_string_lossy().to_string();
                assert!(
                    !ignored(&patterns, &relative),
                    "{} compiles in {relative}, which .dockerignore leaves out",
                    path.display()
                );
                included += 1;
            }
        }
    }
    assert!(included > 10, "found the seeds, templates and fonts compiled in ({included})");
}

#[test]
fn compose_runs_every_service_after_the_migration_with_secrets_from_files() {
    let compose = &yaml_docs("deploy/compose.yaml")[0];
    let services = at(compose, &["services"]).as_mapping().expect("services");
    let has = |name: &str| services.contains_key(name);
    for name in ["postgres", "redis", "migrate", "gateway", "sandbox"] {
        assert!(has(name), "compose has {name}");
    }
    assert_eq!(strings(at(compose, &["services", "migrate", "command"])), ["migrate"]);
    assert_eq!(
        strings(at(compose, &["services", "sandbox", "profiles"])),
        ["demo"],
        "the sandbox only in the demo profile"
    );
    for name in topology().iter().chain([&"sandbox".to_owned()]) {
        let service = at(compose, &["services", name]);
        let expected: Vec<String> = if name == "gateway" {
            vec!["serve".into(), "--gateway".into()]
        } else {
            vec!["serve".into(), "--only".into(), name.clone()]
        };
        assert_eq!(strings(at(service, &["command"])), expected, "{name}'s command");
        assert_eq!(
            text(service, &["depends_on", "migrate", "condition"]),
            "service_completed_successfully",
            "{name} starts after the migration"
        );
        assert!(!at(service, &["healthcheck", "test"]).is_null(), "{name} has a health check");
        let env = at(service, &["environment"]);
        if name != "gateway" {
            let key = format!("CITY_SERVICES__{}", name.to_ascii_uppercase());
            assert_eq!(text(env, &[&key]), format!("http://{name}:8080"), "{key}");
        }
        assert_eq!(
            text(env, &["CITY_DATABASE_URL_FILE"]),
            "/run/secrets/database_url",
            "{name}'s database URL is a secret file"
        );
        assert!(at(env, &["CITY_DATABASE_URL"]).is_null());
    }
    let gateway_deps = at(compose, &["services", "gateway", "depends_on"]);
    for name in city::SERVICES {
        assert_eq!(text(gateway_deps, &[name, "condition"]), "service_healthy", "the gateway waits for {name}");
    }
    // Production: every credential as a file, none in the environment, and the sandbox unused.
    let production = &yaml_docs("deploy/compose.production.yaml")[0];
    for name in topology() {
        let env = at(production, &["services", &name, "environment"]);
        assert_eq!(text(env, &["CITY_PROFILE"]), "production", "{name}");
        let files =
            env.as_mapping().unwrap().keys().filter(|k| k.as_str().is_some_and(|k| k.ends_with("_FILE"))).count();
        assert!(files >= 10, "{name}: every credential from a file ({files})");
    }
    assert!(at(production, &["services", "sandbox"]).is_null());
}
