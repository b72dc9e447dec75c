# shellcheck shell=bash
# Source this file (`source scripts/pulumi-env.sh`) to use the Pulumi engine that
# scripts/provision-pulumi.sh put in ${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/pulumi/v$PULUMI_VERSION/bin.
# It puts that directory first on PATH (the engine finds pulumi-language-nodejs and
# pulumi-resource-pulumi-nodejs there) and exports the settings for running offline.
# It does not choose a backend: set PULUMI_BACKEND_URL (e.g. file://<dir>) yourself.

_pulumi_env_repo="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_pulumi_env_version="$(sed -n 's/^PULUMI_VERSION=["'\'']\{0,1\}\([^"'\'']*\)["'\'']\{0,1\}$/\1/p' "$_pulumi_env_repo/versions.env")"
export PULUMI_BIN_DIR="${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/pulumi/v$_pulumi_env_version/bin"

# PULUMI_BIN_DIR first on PATH, once.
_pulumi_env_path=":$PATH:"
while [ "${_pulumi_env_path#*:"$PULUMI_BIN_DIR":}" != "$_pulumi_env_path" ]; do
  _pulumi_env_path="${_pulumi_env_path%%:"$PULUMI_BIN_DIR":*}:${_pulumi_env_path#*:"$PULUMI_BIN_DIR":}"
done
_pulumi_env_path="${_pulumi_env_path#:}"
_pulumi_env_path="${_pulumi_env_path%:}"
export PATH="$PULUMI_BIN_DIR${_pulumi_env_path:+:$_pulumi_env_path}"

# The dynamic-provider shim and the language host run `node`: use the cached Node.js when PATH has none.
if ! command -v node >/dev/null 2>&1; then
  for _pulumi_env_node in "${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}"/node/*/node_modules/node/bin \
    "${NATS_CLUSTER_CACHE:-$HOME/.cache/nats-cluster}/node/node_modules/node/bin"; do
    if [ -x "$_pulumi_env_node/node" ]; then
      export PATH="$PATH:$_pulumi_env_node"
      break
    fi
  done
fi

export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# An empty passphrase counts as set; keep the caller's when it has one.
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"

if [ ! -x "$PULUMI_BIN_DIR/pulumi" ]; then
  echo "pulumi-env.sh: $PULUMI_BIN_DIR/pulumi is missing: run scripts/provision-pulumi.sh" >&2
fi
unset _pulumi_env_repo _pulumi_env_version _pulumi_env_path _pulumi_env_node
