#!/usr/bin/env python3
"""Offline checks of the deployment recipes, for .ci/deploy-check (needs PyYAML only).

  check.py render DIR         prints the kustomization at DIR rendered (the subset of kustomize
                              this repository uses: resources, configMapGenerator without name
                              hashes, patches strategic-merge or JSON 6902 with a target, images);
                              anything else in a kustomization is an error, never ignored.
  check.py same A B           A and B (multi-document YAML) hold the same objects, in any order.
  check.py raw DIR...         prints the resources each kustomization at DIR lists, as files.
  check.py compose FILE...    the compose files, merged as `docker compose -f … -f …` would,
                              parse and hold together (see check_compose).
"""

import copy
import json
import os
import sys

import yaml

KNOWN_KEYS = {"apiVersion", "kind", "resources", "generatorOptions", "configMapGenerator", "patches", "images"}

# Strategic merge: lists of these fields merge item by item on the key; other lists replace.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}


def fail(message):
    sys.exit(f"check.py: {message}")


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def kustomization(directory):
    path = os.path.join(directory, "kustomization.yaml")
    with open(path, encoding="utf-8") as f:
        k = yaml.safe_load(f)
    unknown = set(k) - KNOWN_KEYS
    if unknown:
        fail(f"{path}: {sorted(unknown)} is beyond what this renderer does; use kustomize or extend it")
    return k


def strategic_merge(base, patch, field=None):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = strategic_merge(out[key], value, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        # As kustomize orders them: the patch's items (merged into their base items) first,
        # then the base's other items.
        key = MERGE_KEYS[field]
        out = []
        for item in patch:
            original = next((b for b in base if b.get(key) == item.get(key)), None)
            out.append(copy.deepcopy(item) if original is None else strategic_merge(original, item))
        patched = {item.get(key) for item in patch}
        return out + [copy.deepcopy(b) for b in base if b.get(key) not in patched]
    return copy.deepcopy(patch)


def pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json6902(doc, ops):
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = pointer(op["path"])
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if kind not in ("add", "replace", "remove"):
            fail(f"JSON patch op {kind} is not supported here")
        if isinstance(node, list):
            if kind == "add":
                node.insert(len(node) if last == "-" else int(last), copy.deepcopy(op["value"]))
            elif kind == "replace":
                node[int(last)] = copy.deepcopy(op["value"])
            else:
                del node[int(last)]
        else:
            if kind in ("replace", "remove") and last not in node:
                fail(f"JSON patch {kind} of a missing {op['path']}")
            if kind == "remove":
                del node[last]
            else:
                node[last] = copy.deepcopy(op["value"])
    return doc


def matches(doc, target):
    unknown = set(target) - {"kind", "name", "labelSelector"}
    if unknown:
        fail(f"patch target fields {sorted(unknown)} are not supported here")
    if "kind" in target and doc.get("kind") != target["kind"]:
        return False
    if "name" in target and doc["metadata"]["name"] != target["name"]:
        return False
    labels = doc["metadata"].get("labels") or {}
    for term in filter(None, (target.get("labelSelector") or "").split(",")):
        if "=" not in term or "!" in term:
            fail(f"label selector term {term!r}: only key=value is supported here")
        key, value = (s.strip() for s in term.split("=", 1))
        if labels.get(key) != value:
            return False
    return True


def config_map(generator, directory):
    unknown = set(generator) - {"name", "literals", "behavior"}
    if unknown:
        fail(f"{directory}: configMapGenerator fields {sorted(unknown)} are not supported here")
    data = {}
    for literal in generator.get("literals", []):
        key, value = literal.split("=", 1)
        data[key] = value
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}


def render(directory):
    k = kustomization(directory)
    docs = []
    for resource in k.get("resources", []):
        path = os.path.normpath(os.path.join(directory, resource))
        docs.extend(render(path) if os.path.isdir(path) else load_all(path))
    generators = k.get("configMapGenerator", [])
    if generators and not (k.get("generatorOptions") or {}).get("disableNameSuffixHash"):
        fail(f"{directory}: generated names need disableNameSuffixHash here (kustomize's hash is not reproduced)")
    for generator in generators:
        made = config_map(generator, directory)
        behavior = generator.get("behavior", "create")
        existing = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == made["metadata"]["name"]]
        if behavior == "create":
            if existing:
                fail(f"{directory}: ConfigMap {made['metadata']['name']} exists; use behavior: merge")
            docs.append(made)
        elif behavior in ("merge", "replace") and existing:
            if behavior == "merge":
                existing[0]["data"] = {**existing[0].get("data", {}), **made["data"]}
            else:
                existing[0]["data"] = made["data"]
        else:
            fail(f"{directory}: configMapGenerator behavior {behavior} without a ConfigMap to {behavior}")
    for patch in k.get("patches", []):
        unknown = set(patch) - {"path", "patch", "target"}
        if unknown:
            fail(f"{directory}: patch fields {sorted(unknown)} are not supported here")
        if "path" in patch:
            with open(os.path.join(directory, patch["path"]), encoding="utf-8") as f:
                body = yaml.safe_load(f)
        else:
            body = yaml.safe_load(patch["patch"])
        target = patch.get("target")
        if target is None:
            if isinstance(body, list):
                fail(f"{directory}: a JSON 6902 patch needs a target")
            target = {"kind": body["kind"], "name": body["metadata"]["name"]}
        hits = [i for i, d in enumerate(docs) if matches(d, target)]
        if not hits:
            fail(f"{directory}: patch target {target} matches nothing")
        for i in hits:
            if isinstance(body, list):
                docs[i] = json6902(docs[i], body)
            else:
                # The target chooses the objects; the patch's own name and kind are not applied.
                patched = strategic_merge(docs[i], {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")})
                docs[i] = patched
    for image in k.get("images", []):
        for doc in docs:
            spec = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                name = container.get("image", "")
                if name == image["name"] or name.startswith(image["name"] + ":"):
                    tag = image.get("newTag", name.partition(":")[2])
                    container["image"] = image.get("newName", image["name"]) + (f":{tag}" if tag else "")
    return docs


def raw_files(directory):
    """The manifest files a kustomization lists (not its patches), recursively."""
    files = []
    for resource in kustomization(directory).get("resources", []):
        path = os.path.normpath(os.path.join(directory, resource))
        files.extend(raw_files(path) if os.path.isdir(path) else [path])
    return files


def by_identity(docs):
    out = {}
    for d in docs:
        key = (d["kind"], d["metadata"]["name"])
        if key in out:
            fail(f"{key} appears twice")
        out[key] = json.loads(json.dumps(d, sort_keys=True))
    return out


def same(a, b):
    left, right = by_identity(load_all(a)), by_identity(load_all(b))
    if left.keys() != right.keys():
        fail(f"objects differ: only in {a}: {sorted(left.keys() - right.keys())}, only in {b}: {sorted(right.keys() - left.keys())}")
    for key in left:
        if left[key] != right[key]:
            fail(f"{key} differs between {a} and {b}:\n{json.dumps(left[key], indent=1)}\n{json.dumps(right[key], indent=1)}")


def merge_compose(files):
    """Compose's own merge, as far as these files use it: maps merge, `secrets` lists join."""

    def merge(base, over, field=None):
        if isinstance(base, dict) and isinstance(over, dict):
            out = dict(base)
            for k, v in over.items():
                out[k] = merge(base[k], v, k) if k in base else v
            return out
        if isinstance(base, list) and isinstance(over, list) and field in ("secrets", "ports", "volumes"):
            return base + [x for x in over if x not in base]
        return over

    merged = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            merged = merge(merged, yaml.safe_load(f))
    return merged


def check_compose(files):
    c = merge_compose(files)
    services = c.get("services") or {}
    problems = []
    declared_secrets = set(c.get("secrets") or {})
    for name, s in services.items():
        if "image" not in s and "build" not in s:
            problems.append(f"{name}: no image or build")
        for secret in s.get("secrets", []):
            if (secret if isinstance(secret, str) else secret.get("source")) not in declared_secrets:
                problems.append(f"{name}: secret {secret} is not declared")
        for dep in s.get("depends_on") or {}:
            if dep not in services:
                problems.append(f"{name}: depends on unknown {dep}")
        env = s.get("environment") or {}
        for key, value in env.items():
            if key.endswith("_FILE") and not str(value).startswith("/run/secrets/"):
                problems.append(f"{name}: {key} is not a mounted secret")
            secretish = any(word in key for word in ("SECRET", "TOKEN", "_KEY", "PASSWORD"))
            if secretish and not key.endswith("_FILE") and not key.endswith("_KEY_ID"):
                problems.append(f"{name}: {key} is a secret in the environment; use {key}_FILE")
        command = s.get("command") or []
        if command[:1] == ["serve"]:
            if "healthcheck" not in s or s["healthcheck"].get("disable"):
                problems.append(f"{name}: a service without a health check")
            if name != "migrate" and (s.get("depends_on") or {}).get("migrate", {}).get("condition") != "service_completed_successfully":
                problems.append(f"{name}: does not wait for the migration to finish")
    for name in ("postgres", "redis", "migrate", "gateway"):
        if name not in services:
            problems.append(f"no {name} service")
    if (services.get("migrate") or {}).get("command") != ["migrate"]:
        problems.append("the migrate service does not run `city migrate`")
    if problems:
        fail("compose: " + "; ".join(problems))
    print(f"compose: {len(services)} services hold together ({', '.join(files)})")


def main(argv):
    if len(argv) >= 2 and argv[0] == "render":
        yaml.safe_dump_all(render(argv[1]), sys.stdout, sort_keys=False)
    elif len(argv) == 3 and argv[0] == "same":
        same(argv[1], argv[2])
    elif len(argv) >= 2 and argv[0] == "raw":
        for directory in argv[1:]:
            print("\n".join(raw_files(directory)))
    elif len(argv) >= 2 and argv[0] == "compose":
        check_compose(argv[1:])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
