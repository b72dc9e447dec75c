/**
 * The rollout lease on a systemd host, one script generator for every systemd platform (the ssh driver pipes it to
 * `sh -s`, the SSM driver sends it as a command): a root-owned file beside the data directory, outside anything
 * nats-server or a store wipe touches. The engine decides (engine/rollout/lease-decision.ts); the script only does
 * the one write asked, atomically on the host, and reports the file as it is afterwards:
 *
 * - create: a complete temp file is hard-linked to the lease path; link(2) fails when a lease exists, so two
 *   rollers racing on one host can never both create it;
 * - replace (heartbeat, or breaking a stale lease): only when the file still holds the expected id, by rename;
 * - release: only when the file holds the expected id.
 *
 * Prints `lease_done=yes|no`, then `lease_base64=<file>` and `lease_age=<seconds since its mtime, by this host's
 * clock>`, or `lease=absent`. The record holds no secret (names, a pid, a time), so SSM's command history may keep it.
 */
import { LeaseOnHost, LeaseRequest } from "../driver";
import { HostPaths } from "./paths";
import { outputValue, shellQuote } from "./scripts";

/** `/var/lib/nats` → `/var/lib/nats-rollout.lease`: beside the data directory, not in it. */
export function leasePathOf(paths: HostPaths): string {
  return `${paths.dataDir.replace(/\/+$/, "")}-rollout.lease`;
}

export function leaseScript(paths: HostPaths, request: LeaseRequest): string {
  const lines = [
    "set -eu",
    "umask 077",
    `lease=${shellQuote(leasePathOf(paths))}`,
    // The id as the engine's leaseIdOf reads it: the first `"id":"<hex>"`.
    `id_of() { sed -n 's/.*"id":"\\([0-9a-f]*\\)".*/\\1/p' "$lease" 2>/dev/null | head -n 1; }`,
  ];
  const writeTemp = (text: string) => [
    `tmp="$(mktemp "$lease.XXXXXX")"`,
    `trap 'rm -f "$tmp"' EXIT`,
    `printf '%s' ${shellQuote(Buffer.from(text, "utf8").toString("base64"))} | base64 -d > "$tmp"`,
  ];
  switch (request.op) {
    case "read":
      lines.push("echo lease_done=no");
      break;
    case "create":
      lines.push(
        ...writeTemp(request.text),
        `if ln "$tmp" "$lease" 2>/dev/null; then echo lease_done=yes; else echo lease_done=no; fi`,
      );
      break;
    case "replace":
      lines.push(
        `if [ "$(id_of)" = ${shellQuote(hexId(request.expectId))} ]; then`,
        ...writeTemp(request.text).map((l) => `  ${l}`),
        `  mv -f "$tmp" "$lease"`,
        "  echo lease_done=yes",
        "else echo lease_done=no; fi",
      );
      break;
    case "release":
      lines.push(
        `if [ "$(id_of)" = ${shellQuote(hexId(request.expectId))} ]; then rm -f "$lease"; echo lease_done=yes; else echo lease_done=no; fi`,
      );
      break;
  }
  lines.push(
    // Read and stat may race a release by another roller: then the file is absent, not an error.
    `if t="$(base64 -w 0 "$lease" 2>/dev/null)" && m="$(stat -c %Y "$lease" 2>/dev/null)"; then`,
    `  echo "lease_base64=$t"`,
    `  echo "lease_age=$(( $(date +%s) - m ))"`,
    "else echo lease=absent; fi",
  );
  return lines.join("\n");
}

/** The script's answer as the driver returns it. */
export function leaseResultOf(stdout: string): LeaseOnHost {
  const done = outputValue(stdout, "lease_done") === "yes";
  const base64 = outputValue(stdout, "lease_base64");
  if (base64 === undefined) return { done };
  const age = Number(outputValue(stdout, "lease_age"));
  return {
    done,
    text: Buffer.from(base64, "base64").toString("utf8"),
    ...(Number.isFinite(age) ? { ageSeconds: Math.max(0, age) } : {}),
  };
}

/** Lease ids are hex (lease.ts makes them): anything else is a bug, never spliced into a script. */
function hexId(id: string): string {
  if (!/^[0-9a-f]+$/.test(id)) throw new Error(`lease id ${JSON.stringify(id)} is not hex`);
  return id;
}
