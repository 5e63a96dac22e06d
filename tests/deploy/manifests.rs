//! The Kubernetes manifests (kustomize base and overlays) against the code's topology.

use super::*;

/// Every object of the files a kustomization lists as resources (not its patches).
fn resources(dir: &str) -> Vec<Value> {
    let k = &yaml_docs(&format!("{dir}/kustomization.yaml"))[0];
    strings(at(k, &["resources"]))
        .iter()
        .flat_map(|r| {
            let path = format!("{dir}/{r}");
            if root().join(&path).is_dir() {
                resources(&path)
            } else {
                yaml_docs(&path)
            }
        })
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| text(d, &["kind"]) == kind && text(d, &["metadata", "name"]) == name)
}

/// The literals of the kustomization's `city-config` generator, as `KEY=value` pairs.
fn config_literals(dir: &str) -> Vec<(String, String)> {
    let k = &yaml_docs(&format!("{dir}/kustomization.yaml"))[0];
    let generators = at(k, &["configMapGenerator"]).as_sequence().cloned().unwrap_or_default();
    generators
        .iter()
        .filter(|g| text(g, &["name"]) == "city-config")
        .flat_map(|g| strings(at(g, &["literals"])))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Checks that `name` runs as a Deployment with its Service and PodDisruptionBudget.
fn check_service(docs: &[Value], name: &str, replicas: u64) {
    let id = format!("city-{name}");
    let deployment = find(docs, "Deployment", &id).unwrap_or_else(|| panic!("no Deployment {id}"));
    assert_eq!(at(deployment, &["spec", "replicas"]).as_u64(), Some(replicas), "{id} replicas");
    let labels = at(deployment, &["spec", "template", "metadata", "labels"]);
    assert_eq!(at(deployment, &["spec", "selector", "matchLabels"]), labels, "{id} selects its pods");
    let container = at(deployment, &["spec", "template", "spec", "containers", "0"]);
    let args = strings(at(container, &["args"]));
    let expected: Vec<String> = match name {
        "gateway" => vec!["serve".into(), "--gateway".into()],
        _ => vec!["serve".into(), "--only".into(), name.into()],
    };
    assert_eq!(args, expected, "{id} args");
    assert_eq!(text(container, &["readinessProbe", "httpGet", "path"]), "/readyz", "{id} readiness");
    assert_eq!(text(container, &["livenessProbe", "httpGet", "path"]), "/healthz", "{id} liveness");
    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(!at(container, &["resources", bound, resource]).is_null(), "{id} {bound}.{resource}");
        }
    }
    assert_eq!(text(container, &["envFrom", "0", "configMapRef", "name"]), "city-config", "{id} configuration");
    let pod = at(deployment, &["spec", "template", "spec"]);
    assert_eq!(at(pod, &["securityContext", "runAsNonRoot"]).as_bool(), Some(true), "{id} runs as non-root");
    assert_eq!(at(container, &["securityContext", "allowPrivilegeEscalation"]).as_bool(), Some(false), "{id}");

    let service = find(docs, "Service", &id).unwrap_or_else(|| panic!("no Service {id}"));
    assert_eq!(at(service, &["spec", "selector"]), labels, "Service {id} selects the Deployment's pods");
    assert_eq!(at(service, &["spec", "ports", "0", "port"]).as_u64(), Some(8080), "Service {id} port");
    let pdb = find(docs, "PodDisruptionBudget", &id).unwrap_or_else(|| panic!("no PodDisruptionBudget {id}"));
    assert_eq!(at(pdb, &["spec", "selector", "matchLabels"]), labels, "PDB {id} covers the Deployment's pods");
}

#[test]
fn every_service_of_the_topology_runs_twice_with_its_service_and_disruption_budget() {
    let base = resources("deploy/k8s/base");
    let services = topology();
    for name in &services {
        check_service(&base, name, 2);
    }
    let deployments: BTreeSet<String> = base
        .iter()
        .filter(|d| text(d, &["kind"]) == "Deployment")
        .map(|d| text(d, &["metadata", "name"]).trim_start_matches("city-").to_owned())
        .collect();
    assert_eq!(deployments, services, "the base runs exactly the topology");
    for name in ["gateway", "booking"] {
        let hpa = find(&base, "HorizontalPodAutoscaler", &format!("city-{name}")).expect("an autoscaler");
        assert_eq!(text(hpa, &["spec", "scaleTargetRef", "name"]), format!("city-{name}"));
        assert!(at(hpa, &["spec", "minReplicas"]).as_u64() >= Some(2), "{name} never below two");
    }
    let job = find(&base, "Job", "city-migrate").expect("a migration Job");
    assert_eq!(strings(at(job, &["spec", "template", "spec", "containers", "0", "args"])), ["migrate"]);
    // Each service is told where every other one is: its Service (the sandbox's in the demo).
    let config = config_literals("deploy/k8s/base");
    for name in services.iter().filter(|n| *n != "gateway").map(String::as_str).chain(["sandbox"]) {
        let key = format!("CITY_SERVICES__{}", name.to_ascii_uppercase());
        let value = config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
        assert_eq!(value, Some(format!("http://city-{name}:8080").as_str()), "{key}");
    }
    // Every manifest in base/ is in the kustomization (none forgotten, none validated in vain).
    let listed = strings(at(&yaml_docs("deploy/k8s/base/kustomization.yaml")[0], &["resources"]));
    for entry in std::fs::read_dir(root().join("deploy/k8s/base")).unwrap().flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        assert!(file == "kustomization.yaml" || listed.contains(&file), "{file} is not in base/kustomization.yaml");
    }
}

#[test]
fn the_demo_adds_the_sandbox_and_production_has_none() {
    let demo = resources("deploy/k8s/overlays/demo");
    check_service(&demo, "sandbox", 1);
    let demo_config = config_literals("deploy/k8s/overlays/demo");
    assert!(demo_config.contains(&("CITY_PROFILE".into(), "demo".into())));

    let production = resources("deploy/k8s/overlays/production");
    assert!(find(&production, "Deployment", "city-sandbox").is_none(), "no sandbox in production");
    for name in topology() {
        check_service(&production, &name, 2);
    }
    let config = config_literals("deploy/k8s/overlays/production");
    assert!(config.contains(&("CITY_PROFILE".into(), "production".into())));
    // Every credential of the program comes from the Secret's files, none from the ConfigMap.
    for key in city_platform::secrets::SECRET_KEYS.iter().filter(|k| k.credential) {
        let env = format!("{}_FILE", city_platform::secrets::env_name(key.path));
        let value = config.iter().find(|(k, _)| *k == env).map(|(_, v)| v.clone());
        assert!(value.is_some_and(|v| v.starts_with("/run/secrets/city/")), "production reads {} from {env}", key.path);
        let plain = city_platform::secrets::env_name(key.path);
        assert!(!config.iter().any(|(k, _)| *k == plain), "{plain} must not be in a ConfigMap");
    }
}

/// Whether an Ingress path rule sends `path` to its backend (Kubernetes' Prefix matches whole
/// path elements: `/v1/me` matches `/v1/me/x`, not `/v1/media`).
fn routed(rules: &[(String, String)], path: &str) -> bool {
    rules.iter().any(|(rule, kind)| match kind.as_str() {
        "Exact" => path == rule,
        _ => rule == "/" || path == rule || path.starts_with(&format!("{}/", rule.trim_end_matches('/'))),
    })
}

#[tokio::test]
async fn the_ingress_reaches_every_public_path_and_never_an_internal_one() {
    let base = resources("deploy/k8s/base");
    let ingress = find(&base, "Ingress", "city").expect("an Ingress");
    let mut rules = Vec::new();
    for rule in at(ingress, &["spec", "rules"]).as_sequence().unwrap() {
        for p in at(rule, &["http", "paths"]).as_sequence().unwrap() {
            assert_eq!(text(p, &["backend", "service", "name"]), "city-gateway", "only the gateway is exposed");
            rules.push((text(p, &["path"]).to_owned(), text(p, &["pathType"]).to_owned()));
        }
    }
    // The demo's patch adds the sandbox's consent pages, through the gateway too.
    let demo = read("deploy/k8s/overlays/demo/kustomization.yaml");
    assert!(demo.contains("path: /sandbox/wechat, pathType: Prefix, backend: {service: {name: city-gateway"));

    let (spec, _) = city::whole_document().await.expect("the whole document");
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let paths: Vec<&String> = spec["paths"].as_object().unwrap().keys().collect();
    assert!(paths.iter().any(|p| p.starts_with("/v1/internal/")), "the document has internal paths to check");
    for path in paths {
        let concrete = path.replace('{', "x").replace('}', "");
        let private = path.starts_with("/v1/internal/") || path == "/metrics" || path == "/readyz";
        assert_eq!(routed(&rules, &concrete), !private, "{path}: the Ingress must route it: {}", !private);
    }
    // What the gateway forwards or serves outside the document.
    for path in
        ["/console/queue", "/h5/me", "/open311/v2/requests.json", "/wechat/callback", "/docs", "/openapi.json", "/"]
    {
        assert!(routed(&rules, path), "{path} is public");
    }
    let settings = city_platform::Settings::default();
    for (prefix, _) in city::proxy::routes(&settings) {
        assert!(routed(&rules, &format!("{prefix}/x")), "the gateway forwards {prefix}; the Ingress must too");
    }
    for path in ["/v1/internal/identity/people", "/v1/internal", "/metrics", "/readyz", "/sandbox/wechat/x"] {
        assert!(!routed(&rules, path), "{path} must not be reachable from outside");
    }
}
