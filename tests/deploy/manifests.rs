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
            let rule = (text(p, &["path"]).to_owned(), text(p, &["pathType"]).to_owned());
            // A path listed twice is a merge left over; controllers differ on which one wins.
            assert!(!rules.iter().any(|(path, _)| *path == rule.0), "{} is listed twice in the Ingress", rule.0);
            rules.push(rule);
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

/// Whether a kustomize patch target (`kind`, `name`, `labelSelector` of `key=value` terms, what
/// the overlays use) selects `object`.
fn targets(target: &Value, object: &Value) -> bool {
    let kind = text(target, &["kind"]);
    let name = text(target, &["name"]);
    let labels = at(object, &["metadata", "labels"]);
    (kind.is_empty() || kind == text(object, &["kind"]))
        && (name.is_empty() || name == text(object, &["metadata", "name"]))
        && text(target, &["labelSelector"]).split(',').filter(|t| !t.is_empty()).all(|term| {
            let (key, value) = term.split_once('=').expect("key=value selector terms only");
            text(labels, &[key.trim()]) == value.trim()
        })
}

/// The `imagePullPolicy` the overlay at `dir` gives container `container` of `object`: the
/// object's own, then each strategic-merge patch file targeting it, in order (the last wins).
fn pull_policy(dir: &str, object: &Value, container: &str) -> Option<String> {
    let policy_in = |pod: &Value| {
        pod.get("containers")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .find(|c| text(c, &["name"]) == container)
            .and_then(|c| c.get("imagePullPolicy"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut policy = policy_in(at(object, &["spec", "template", "spec"]));
    let k = &yaml_docs(&format!("{dir}/kustomization.yaml"))[0];
    for patch in at(k, &["patches"]).as_sequence().cloned().unwrap_or_default() {
        let (Some(file), target) = (patch.get("path").and_then(Value::as_str), at(&patch, &["target"])) else {
            continue;
        };
        if targets(target, object) {
            let body = &yaml_docs(&format!("{dir}/{file}"))[0];
            policy = policy_in(at(body, &["spec", "template", "spec"])).or(policy);
        }
    }
    policy
}

/// The containers running the city image in the Deployments and Jobs of `docs`, with their pod
/// owner: (object, container name, image).
fn city_containers(docs: &[Value]) -> Vec<(&Value, String, String)> {
    let mut out = Vec::new();
    for object in docs.iter().filter(|d| ["Deployment", "Job"].contains(&text(d, &["kind"]))) {
        let pod = at(object, &["spec", "template", "spec"]);
        for list in ["initContainers", "containers"] {
            for c in at(pod, &[list]).as_sequence().into_iter().flatten() {
                let image = text(c, &["image"]);
                if image == "city" || image.starts_with("city:") {
                    out.push((object, text(c, &["name"]).to_owned(), image.to_owned()));
                }
            }
        }
    }
    out
}

/// The tag the overlay at `dir` gives the `city` image (`images:`).
fn city_tag(dir: &str) -> Option<String> {
    let k = &yaml_docs(&format!("{dir}/kustomization.yaml"))[0];
    let images = at(k, &["images"]).as_sequence().cloned().unwrap_or_default();
    let image = images.iter().find(|i| text(i, &["name"]) == "city")?;
    Some(text(image, &["newTag"]).to_owned())
}

#[test]
fn the_demo_runs_the_loaded_image_and_production_a_pinned_one() {
    // The demo's image is built and loaded into the cluster as city:latest; with `latest` and no
    // policy Kubernetes pulls Always (from Docker Hub) and a fresh cluster never starts.
    let dir = "deploy/k8s/overlays/demo";
    let demo = resources(dir);
    assert_eq!(city_tag(dir).as_deref(), Some("latest"), "the README loads city:latest");
    let containers = city_containers(&demo);
    let names: BTreeSet<String> =
        containers.iter().map(|(o, _, _)| text(o, &["metadata", "name"]).to_owned()).collect();
    assert!(names.contains("city-sandbox") && names.contains("city-migrate"), "the demo's own objects are checked too");
    assert_eq!(names.len(), topology().len() + 2, "every service, the sandbox and the Job run the city image");
    for (object, container, _) in &containers {
        let id = format!("{} {}", text(object, &["kind"]), text(object, &["metadata", "name"]));
        assert_eq!(pull_policy(dir, object, container).as_deref(), Some("IfNotPresent"), "{id}/{container}");
    }
    // The Job seeds once PostgreSQL answers (the demo's starts at the same moment).
    let job = find(&demo, "Job", "city-migrate").expect("the demo's Job");
    let k = &yaml_docs(&format!("{dir}/kustomization.yaml"))[0];
    let mut waits = Vec::new();
    for patch in at(k, &["patches"]).as_sequence().unwrap().iter().filter(|p| targets(at(p, &["target"]), job)) {
        let Some(file) = patch.get("path").and_then(Value::as_str) else { continue };
        let body = &yaml_docs(&format!("{dir}/{file}"))[0];
        for c in at(body, &["spec", "template", "spec", "initContainers"]).as_sequence().into_iter().flatten() {
            waits.push(strings(at(c, &["command"])).join(" "));
        }
    }
    assert!(
        waits.iter().any(|c| c.contains("pg_isready") && c.contains("-h city-postgres")),
        "the demo's Job waits for city-postgres: {waits:?}"
    );

    // Production pulls a pinned tag from the city's registry: never `latest` (or no tag, which
    // is `latest`), and every city container is the plain `city` the `images:` entry rewrites.
    let dir = "deploy/k8s/overlays/production";
    let tag = city_tag(dir).expect("production names its image");
    assert!(!tag.is_empty() && tag != "latest", "production's image tag {tag:?}");
    let production = resources(dir);
    let containers = city_containers(&production);
    assert!(!containers.is_empty());
    for (object, container, image) in &containers {
        assert_eq!(
            image,
            "city",
            "{}/{container}: untagged, so `images:` sets the tag",
            text(object, &["metadata", "name"])
        );
    }
}
