#!/usr/bin/env bash
# Provisions the Pulumi engine, offline, into a versioned cache outside the repo:
#   ${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/pulumi/v$PULUMI_VERSION/bin/
#     pulumi                          the CLI, built from the Go module proxy (github.com/pulumi/pulumi/pkg/v3),
#                                     or a link to a `pulumi` already on PATH at the pinned version
#     pulumi-language-nodejs          the Node.js language host, built from tools/pulumi-language-nodejs
#                                     (the upstream Go module is not served by the module proxy)
#     pulumi-resource-pulumi-nodejs   the shim that serves pulumi.dynamic.Resource providers
# then smoke-checks it: `pulumi version`, and `pulumi up`/`pulumi destroy` of a throwaway project with one
# dynamic resource against a file:// backend. The smoke check is skipped when it already passed for this
# version and these binaries, unless --force-smoke is given.
#
# Usage: scripts/provision-pulumi.sh [--force-smoke] [NODE_MODULES_DIR]
#   NODE_MODULES_DIR: a node_modules holding @pulumi/pulumi for the smoke project (default: the repo's).
# Environment: NATS_CLUSTER_CACHE (cache root), PULUMI_PROVISION_JOBS (go build -p, default 2).
# Afterwards `source scripts/pulumi-env.sh` puts the engine on PATH with the offline settings.
set -euo pipefail

script_dir="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$script_dir/.." && pwd)"
# shellcheck source=SCRIPTDIR/../versions.env
source "$(dirname "$0")/../versions.env"
: "${PULUMI_VERSION:?versions.env does not set PULUMI_VERSION}"

die() { printf 'provision-pulumi: error: %s\n' "$*" >&2; exit 1; }

force_smoke=false
node_modules="$repo/node_modules"
while [ $# -gt 0 ]; do
  case "$1" in
    --force-smoke) force_smoke=true ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "provision-pulumi: unknown option $1 (usage: $0 [--force-smoke] [NODE_MODULES_DIR])" >&2; exit 2 ;;
    *) node_modules="$(cd "$1" 2>/dev/null && pwd)" || die "node_modules directory '$1' does not exist" ;;
  esac
  shift
done

cache="${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}"
pdir="$cache/pulumi/v$PULUMI_VERSION"
bin="$pdir/bin"
build="$pdir/build"
marker="$pdir/smoke-ok"
jobs="${PULUMI_PROVISION_JOBS:-2}"
mkdir -p "$bin" "$build"

started=$SECONDS
step() { printf '[provision-pulumi %4ds] %s\n' "$((SECONDS - started))" "$*"; }
quoted() { local q; q="$(printf '%q ' "$@")"; printf '%s' "${q% }"; }

# run_logged LOG CMD...: runs CMD with its output in LOG; on failure prints the exact command,
# its exit code and the end of its output, then exits non-zero.
run_logged() {
  local log="$1"; shift
  local rc=0
  printf '    $ %s\n' "$(quoted "$@")" >> "$log"
  "$@" >> "$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    {
      printf 'provision-pulumi: error: command failed (exit %d) in %s:\n  %s\n' "$rc" "$PWD" "$(quoted "$@")"
      printf -- '--- last lines of %s ---\n' "$log"
      tail -n 40 "$log"
    } >&2
    exit 1
  fi
}

# One provisioning at a time per version (CI and a developer's shell may race).
if command -v flock >/dev/null; then
  exec 9>"$pdir/.lock"
  flock 9
fi

# --- tools: node (for the smoke check and the dynamic-provider shim), go (for builds) -------------------
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if ! command -v node >/dev/null || [ "$(node_major node)" -lt "${NODE_MIN_MAJOR:-22}" ]; then
  for d in "$cache/node/v${NODE_VERSION:-none}/node_modules/node/bin" "$cache/node/node_modules/node/bin"; do
    if [ -x "$d/node" ] && [ "$(node_major "$d/node")" -ge "${NODE_MIN_MAJOR:-22}" ]; then
      export PATH="$d:$PATH"
      break
    fi
  done
fi
command -v node >/dev/null && [ "$(node_major node)" -ge "${NODE_MIN_MAJOR:-22}" ] ||
  die "Node.js >= ${NODE_MIN_MAJOR:-22} is needed on PATH (scripts/provision.sh installs it)"

find_go() {
  if command -v go >/dev/null; then return 0; fi
  [ -x /usr/local/go/bin/go ] || die "go is needed to build the Pulumi engine and is not on PATH nor in /usr/local/go/bin"
  export PATH="$PATH:/usr/local/go/bin"
}

rebuilt=false

# --- 1. the pulumi CLI -------------------------------------------------------------------------------
want="v$PULUMI_VERSION"
# Offline from the first pulumi command on (no update check, no plugin downloads).
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
cli_version() {
  if command -v timeout >/dev/null; then
    timeout 60 "$1" version 2>/dev/null | tr -d '[:space:]' || true
  else
    "$1" version 2>/dev/null | tr -d '[:space:]' || true
  fi
}

# A pulumi on PATH other than our own cached one.
ambient_pulumi() {
  local d IFS=:
  for d in $PATH; do
    [ -n "$d" ] && [ "$d" != "$bin" ] && [ -x "$d/pulumi" ] && [ ! -d "$d/pulumi" ] && { printf '%s\n' "$d/pulumi"; return 0; }
  done
  return 0
}
ambient="$(ambient_pulumi)"

if [ -x "$bin/pulumi" ] && [ "$(cli_version "$bin/pulumi")" = "$want" ]; then
  if [ -L "$bin/pulumi" ]; then
    step "pulumi $want: cached ($bin/pulumi -> $(readlink "$bin/pulumi"), found on PATH earlier)"
  else
    step "pulumi $want: cached in $bin/pulumi (built earlier)"
  fi
elif [ -n "$ambient" ] && [ "$(cli_version "$ambient")" = "$want" ]; then
  step "pulumi $want: found on PATH at $ambient; using it (linking it into $bin)"
  ln -sfn "$ambient" "$bin/pulumi"
  rebuilt=true
else
  if [ -n "$ambient" ]; then
    step "pulumi on PATH ($ambient) is $(cli_version "$ambient"), not $want: building $want"
  fi
  find_go
  src="$build/cli"
  log="$src/build.log"
  mkdir -p "$src"
  : > "$log"
  step "pulumi $want: building from the Go module proxy in $src ($(go version | cut -d' ' -f3), go build -p $jobs; several minutes on 2 cores when the Go build cache is cold; log: $log)"
  # pkg/v3's go.mod has replace directives, so `go install pkg@version` is refused: it is built from a wrapper module
  # that requires pkg/v3 at the pinned version and copies pkg's non-local replace. Its go.mod and go.sum are
  # committed (tools/pulumi-cli), resolved once by `go mod tidy`: resolving them here downloaded the go.mod of every
  # test dependency in the graph (147 s, 1.6 GB on a cold module cache) where the build needs 68 s and 1.4 GB.
  # When versions.env pins another release, the wrapper is made and tidied here, and says how to commit it.
  cli_src="$repo/tools/pulumi-cli"
  if grep -q "github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION\( \|\$\)" "$cli_src/go.mod" 2>/dev/null; then
    cp "$cli_src/go.mod" "$cli_src/go.sum" "$cli_src/tools.go" "$src/"
    resolved=committed
  else
    rm -f "$src/go.sum"
    cat > "$src/go.mod" <<EOF
module nats-cluster/pulumi-cli-build

go 1.25

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
EOF
    cp "$cli_src/tools.go" "$src/"
    resolved=tidy
  fi
  build_started=$SECONDS
  (
    cd "$src"
    export GOFLAGS="-mod=mod -buildvcs=false"
    if [ "$resolved" = tidy ]; then
      step "pulumi $want: resolving the module graph (go mod tidy; tools/pulumi-cli pins another release: copy go.mod and go.sum from $src into tools/pulumi-cli and commit them)"
      run_logged "$log" nice -n 10 go mod tidy
    fi
    # The module graph must keep pkg/v3 and sdk/v3 at the pinned version (tidy could raise sdk/v3).
    for m in github.com/pulumi/pulumi/pkg/v3 github.com/pulumi/pulumi/sdk/v3; do
      v="$(go list -m -f '{{.Version}}' "$m" 2>>"$log")" || die "go list -m $m failed in $src (see $log)"
      [ "$v" = "$want" ] || die "$src/go.mod resolves $m to $v, not $want: delete $src and run again"
    done
    step "pulumi $want: compiling github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
    export GOFLAGS="-mod=readonly -buildvcs=false"
    # Faster on a cold cache, same program: the compiler collects garbage less often (GOGC=400 trades memory for
    # time: a cold nats-server build took 16 % less CPU, 62 s against 75 s, and peaked at 1.5 GB against 1.15 GB;
    # PULUMI_BUILD_GOGC=100 is Go's default), and the linker writes no symbol table or DWARF (-s -w: nobody debugs
    # this binary; `go version -m` still reads its module versions below).
    run_logged "$log" env GOGC="${PULUMI_BUILD_GOGC:-400}" nice -n 10 go build -p "$jobs" -o "$bin/pulumi.tmp" \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$want" \
      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    for m in github.com/pulumi/pulumi/pkg/v3 github.com/pulumi/pulumi/sdk/v3; do
      v="$(go version -m "$bin/pulumi.tmp" | awk -v m="$m" '($1 == "mod" || $1 == "dep") && $2 == m { print $3 }')"
      [ "$v" = "$want" ] || die "$bin/pulumi.tmp was built with $m '$v', not $want"
    done
  )
  mv -f "$bin/pulumi.tmp" "$bin/pulumi"
  got="$(cli_version "$bin/pulumi")"
  [ "$got" = "$want" ] || die "$bin/pulumi version printed '$got', expected '$want'"
  step "pulumi $want: built in $((SECONDS - build_started))s"
  rebuilt=true
fi

# --- 2. the Node.js language host ---------------------------------------------------------------------
# Prefer the one shipped next to an ambient pulumi at the pinned version; else build ours.
pulumi_real_dir="$(dirname "$(readlink -f "$bin/pulumi")")"
lh_src="$repo/tools/pulumi-language-nodejs"
if [ "$pulumi_real_dir" != "$bin" ] && [ -x "$pulumi_real_dir/pulumi-language-nodejs" ]; then
  if [ "$(readlink "$bin/pulumi-language-nodejs" 2>/dev/null)" = "$pulumi_real_dir/pulumi-language-nodejs" ]; then
    step "pulumi-language-nodejs: cached (link to the one next to $pulumi_real_dir/pulumi)"
  else
    step "pulumi-language-nodejs: using the one next to $pulumi_real_dir/pulumi"
    ln -sfn "$pulumi_real_dir/pulumi-language-nodejs" "$bin/pulumi-language-nodejs"
    rebuilt=true
  fi
else
  [ -f "$lh_src/go.mod" ] || die "$lh_src/go.mod is missing"
  lh_stamp="$bin/.pulumi-language-nodejs.stamp"
  lh_hash="$PULUMI_VERSION $(cd "$lh_src" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)"
  if [ -x "$bin/pulumi-language-nodejs" ] && [ ! -L "$bin/pulumi-language-nodejs" ] &&
    [ -f "$lh_stamp" ] && [ "$(cat "$lh_stamp")" = "$lh_hash" ]; then
    step "pulumi-language-nodejs: cached in $bin (built from tools/pulumi-language-nodejs, unchanged)"
  else
    find_go
    step "pulumi-language-nodejs: building tools/pulumi-language-nodejs (our minimal Node.js language host)"
    lh_log="$build/language-host.log"
    : > "$lh_log"
    (
      cd "$lh_src"
      export GOFLAGS="-mod=readonly -buildvcs=false"
      run_logged "$lh_log" nice -n 10 go build -p "$jobs" -o "$bin/pulumi-language-nodejs.tmp" \
        -ldflags "-X main.version=$PULUMI_VERSION" .
    )
    rm -f "$bin/pulumi-language-nodejs"
    mv -f "$bin/pulumi-language-nodejs.tmp" "$bin/pulumi-language-nodejs"
    echo "$lh_hash" > "$lh_stamp"
    rebuilt=true
  fi
fi

# --- 3. the dynamic-provider shim ---------------------------------------------------------------------
shim="$bin/pulumi-resource-pulumi-nodejs"
shim_text='#!/bin/sh
# Written by scripts/provision-pulumi.sh. The Pulumi engine starts this to serve pulumi.dynamic.Resource
# providers, in the project directory, with the engine address as last argument. It runs the Node SDK
# provider server from the node_modules nearest to that directory (or PULUMI_NODEJS_SDK_DIR, a path to
# @pulumi/pulumi, when set).
set -e
if [ -n "${PULUMI_NODEJS_SDK_DIR:-}" ]; then
  exec node "$PULUMI_NODEJS_SDK_DIR/cmd/dynamic-provider" "$@"
fi
dir="$(pwd -P)"
while :; do
  if [ -f "$dir/node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js" ]; then
    exec node "$dir/node_modules/@pulumi/pulumi/cmd/dynamic-provider" "$@"
  fi
  [ "$dir" = / ] && break
  dir="$(dirname "$dir")"
done
echo "pulumi-resource-pulumi-nodejs: no node_modules/@pulumi/pulumi/cmd/dynamic-provider in $(pwd) or its parents: run npm install" >&2
exit 1'
if [ "$pulumi_real_dir" != "$bin" ] && [ -x "$pulumi_real_dir/pulumi-resource-pulumi-nodejs" ]; then
  # The engine warns when the copy it finds on PATH is not the one next to the running pulumi.
  if [ "$(readlink "$shim" 2>/dev/null)" = "$pulumi_real_dir/pulumi-resource-pulumi-nodejs" ]; then
    step "pulumi-resource-pulumi-nodejs: cached (link to the one next to $pulumi_real_dir/pulumi)"
  else
    step "pulumi-resource-pulumi-nodejs: using the one next to $pulumi_real_dir/pulumi"
    ln -sfn "$pulumi_real_dir/pulumi-resource-pulumi-nodejs" "$shim"
    rebuilt=true
  fi
elif [ -f "$shim" ] && [ ! -L "$shim" ] && [ "$(cat "$shim")" = "$shim_text" ]; then
  step "pulumi-resource-pulumi-nodejs: cached in $bin"
else
  step "pulumi-resource-pulumi-nodejs: writing the dynamic-provider shim into $bin"
  rm -f "$shim"
  printf '%s\n' "$shim_text" > "$shim.tmp"
  chmod 755 "$shim.tmp"
  mv -f "$shim.tmp" "$shim"
  rebuilt=true
fi

# --- 4. smoke check -----------------------------------------------------------------------------------
fingerprint="$want $(sha256sum "$bin/pulumi-language-nodejs" "$shim" | cut -d' ' -f1 | paste -sd' ' -)"
if [ "$force_smoke" = false ] && [ "$rebuilt" = false ] && [ -f "$marker" ] &&
  [ "$(head -n1 "$marker")" = "$fingerprint" ]; then
  step "smoke check: passed earlier for $want ($(sed -n 2p "$marker")); skipping (--force-smoke runs it again)"
  step "done: the engine is in $bin (source scripts/pulumi-env.sh to use it)"
  exit 0
fi
rm -f "$marker"

[ -f "$node_modules/@pulumi/pulumi/package.json" ] ||
  die "$node_modules/@pulumi/pulumi is missing: run npm install (or pass a node_modules holding @pulumi/pulumi)"
sdk_version="$(node -p "require('$node_modules/@pulumi/pulumi/package.json').version")"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pulumi-smoke.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
proj="$tmp/project"
mkdir -p "$proj" "$tmp/state" "$tmp/home"
ln -s "$node_modules" "$proj/node_modules"
cat > "$proj/Pulumi.yaml" <<'EOF'
name: provision-smoke
runtime:
  name: nodejs
  options:
    typescript: true
description: throwaway project of scripts/provision-pulumi.sh
EOF
cat > "$proj/package.json" <<'EOF'
{ "name": "provision-smoke", "version": "0.0.0", "private": true, "main": "index.ts" }
EOF
cat > "$proj/index.ts" <<'EOF'
import * as pulumi from "@pulumi/pulumi";

// One dynamic resource: exercises the language host, the dynamic-provider shim and the state backend.
const provider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: any) {
        return { id: `smoke-${inputs.greeting}`, outs: { ...inputs, length: inputs.greeting.length } };
    },
    async diff(_id: string, olds: any, news: any) {
        return { changes: olds.greeting !== news.greeting };
    },
    async update(_id: string, _olds: any, news: any) {
        return { outs: { ...news, length: news.greeting.length } };
    },
    async delete() {},
};

class Greeting extends pulumi.dynamic.Resource {
    public readonly greeting!: pulumi.Output<string>;
    public readonly length!: pulumi.Output<number>;
    constructor(name: string, greeting: string, opts?: pulumi.CustomResourceOptions) {
        super(provider, name, { greeting, length: undefined }, opts);
    }
}

const g = new Greeting("smoke", "hello");
export const greeting = g.greeting;
export const length = g.length;
EOF

export PATH="$bin:$PATH"
export PULUMI_HOME="$tmp/home"
export PULUMI_BACKEND_URL="file://$tmp/state"
export PULUMI_CONFIG_PASSPHRASE=""
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
unset PULUMI_ACCESS_TOKEN

smoke_log="$build/smoke.log"
: > "$smoke_log"
# smoke CMD...: runs CMD in the smoke project, shows its output indented, fails loudly.
smoke() {
  local out rc=0
  printf '    $ %s\n' "$*"
  out="$(cd "$proj" && "$@" 2>&1)" || rc=$?
  printf '$ %s\n%s\n' "$*" "$out" >> "$smoke_log"
  printf '%s\n' "$out" | sed 's/^/      /'
  if [ "$rc" -ne 0 ]; then
    {
      printf 'provision-pulumi: error: smoke check command failed (exit %d) in %s:\n  %s\n' "$rc" "$proj" "$(quoted "$@")"
      printf '%s\n' "$out" | grep -i 'error' | head -n 10 | sed 's/^ */  /'
    } >&2
    exit 1
  fi
  SMOKE_OUT="$out"
}

step "smoke check: pulumi $want with @pulumi/pulumi $sdk_version from $node_modules (file:// backend in $tmp)"
smoke pulumi version
[ "$(printf '%s' "$SMOKE_OUT" | tr -d '[:space:]')" = "$want" ] || die "pulumi version printed '$SMOKE_OUT', expected '$want'"
smoke pulumi stack init smoke --non-interactive
smoke pulumi up --yes --non-interactive
smoke pulumi stack output greeting --non-interactive
[ "$SMOKE_OUT" = "hello" ] || die "stack output greeting is '$SMOKE_OUT', expected 'hello'"
smoke pulumi destroy --yes --non-interactive
smoke pulumi stack rm --yes --non-interactive smoke

printf '%s\n%s\n' "$fingerprint" "$(date -u +%Y-%m-%dT%H:%M:%SZ), @pulumi/pulumi $sdk_version" > "$marker"
step "smoke check: passed (marker $marker)"
step "done: the engine is in $bin (source scripts/pulumi-env.sh to use it)"
