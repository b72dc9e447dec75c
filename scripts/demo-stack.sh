# shellcheck shell=bash
# Sourced by the main jobs (local-rollout.sh, lab-rollout.sh): their own stack, made from a committed stack file and
# ignored by git, on a file backend in .state/pulumi. Needs `repo` set by the caller.

# demo_stack_file NAME FROM: stacks/Pulumi.NAME.yaml, made from the committed stacks/Pulumi.FROM.yaml the first time
# (later runs keep what the demo changed in it). Prints its path.
demo_stack_file() {
  local file="$repo/stacks/Pulumi.$1.yaml"
  if [ ! -f "$file" ]; then
    {
      echo "# Made by scripts/${1%-demo}-rollout.sh from stacks/Pulumi.$2.yaml (ignored by git): the demo changes it."
      cat "$repo/stacks/Pulumi.$2.yaml"
    } >"$file"
  fi
  echo "$file"
}

# demo_backend DEFAULT_PASSPHRASE: a file backend in .state/pulumi unless PULUMI_BACKEND_URL says otherwise; the
# demo's passphrase unless one is set. Sets passphrase_hint: the demo default is printed in the teardown hint, a
# passphrase of your own never is.
demo_backend() {
  export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$repo/.state/pulumi}"
  case "$PULUMI_BACKEND_URL" in file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;; esac
  if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    export PULUMI_CONFIG_PASSPHRASE="$1"
    passphrase_hint="$1"
  else
    passphrase_hint='<your passphrase>'
  fi
  # `npm run build` type-checked the program already: the language host only needs to transpile it.
  export PULUMI_NODEJS_TRANSPILE_ONLY=true
}

# run CMD...: print the command, then run it.
run() { printf '\n\033[36m$ %s\033[0m\n' "$*"; "$@"; }

# demo_credentials: the demo stack's client password and system-account password, made once with openssl and set as
# Pulumi secrets through stdin (never on a command line); later runs keep them. The servers then refuse clients
# without them; `pulumi config get nats-cluster:auth --show-secrets` shows them to you. Monitoring goes through the
# system account.
demo_credentials() {
  if ! pulumi config get nats-cluster:auth --non-interactive >/dev/null 2>&1; then
    printf '{"users":[{"user":"app","password":"%s"}]}' "$(openssl rand -hex 16)" |
      pulumi config set --secret nats-cluster:auth --non-interactive
  fi
  if ! pulumi config get nats-cluster:systemAccount --non-interactive >/dev/null 2>&1; then
    printf '{"user":"sys","password":"%s"}' "$(openssl rand -hex 16)" |
      pulumi config set --secret nats-cluster:systemAccount --non-interactive
  fi
  # With a system account, the engine reads every server through it (TLS, authenticated) and the monitoring port
  # binds to 127.0.0.1: nothing off the host reaches /connz.
  pulumi config set nats-cluster:monitoring system-account --non-interactive
}
