#!/bin/sh
# Copies the workspace's manifests and lockfile from SRC to DEST with a stub for every target
# (library, binary, build script, test, bench, example), so that the image's dependency layer
# depends on the manifests only: a change to the code reuses the compiled dependencies.
# Used by deploy/Dockerfile; .ci/deploy-check loads the result with `cargo metadata --locked`.
#   deploy/skeleton.sh SRC DEST
set -eu
src=$1
dest=$2
mkdir -p "$dest"
cp "$src/Cargo.toml" "$src/Cargo.lock" "$dest/"
stub() { # path relative to SRC; a library stays empty, anything else gets a main
  mkdir -p "$dest/$(dirname "$1")"
  case "$1" in
    */src/lib.rs) : >"$dest/$1" ;;
    *) echo 'fn main() {}' >"$dest/$1" ;;
  esac
}
cd "$src"
for manifest in services/*/Cargo.toml shared/*/Cargo.toml; do
  crate=$(dirname "$manifest")
  mkdir -p "$dest/$crate"
  cp "$manifest" "$dest/$crate/"
  # Every crate is a library here; binaries, build scripts and the targets cargo discovers.
  stub "$crate/src/lib.rs"
  for file in src/main.rs build.rs; do
    if [ -f "$crate/$file" ]; then stub "$crate/$file"; fi
  done
  for file in $(find "$crate/src/bin" "$crate/tests" "$crate/benches" "$crate/examples" -maxdepth 2 -name '*.rs' 2>/dev/null); do
    stub "$file"
  done
  # Targets named by an explicit `path = "…"` (the gateway's suites under the top-level tests/).
  for target in $(sed -n 's/^path *= *"\(.*\)"$/\1/p' "$manifest"); do
    file=$(realpath -m --relative-to=. "$crate/$target")
    if [ ! -f "$dest/$file" ]; then stub "$file"; fi
  done
done
