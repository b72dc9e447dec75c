/**
 * Pinned SSH host keys: the ssh platform refuses any host whose public key is not the one its settings pin (what
 * OpenSSH's `StrictHostKeyChecking=yes` does with a known_hosts line). Keys are written as in a `.pub` file or a
 * known_hosts line without the host: `ssh-ed25519 AAAAC3Nz… [comment]`.
 */
import { createHash } from "node:crypto";

/** Host key types the platform accepts, as they appear in a `.pub` file. */
export const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;

export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** A pinned host key: its type, the key blob the server must present, and its fingerprint for messages. */
export interface PinnedHostKey {
  readonly type: HostKeyType;
  readonly blob: Buffer;
  /** OpenSSH's `SHA256:…` form, as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
}

/** OpenSSH's fingerprint of a key blob: `SHA256:` and the unpadded base64 of its SHA-256. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** What is wrong with a pinned key's text, or undefined when it is one. */
export function hostKeyProblem(text: unknown): string | undefined {
  if (typeof text !== "string") return `${JSON.stringify(text)} is not a key line`;
  const [type, data] = text.trim().split(/\s+/);
  if (!(HOST_KEY_TYPES as ReadonlyArray<string>).includes(type)) {
    return `key type ${JSON.stringify(type)} is not one of ${HOST_KEY_TYPES.join(", ")} (write "ssh-ed25519 AAAA…")`;
  }
  if (!data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return "the key's base64 part is missing or not base64";
  // The blob starts with its own type as an SSH string: a line whose type and data disagree is a copy error.
  const blob = Buffer.from(data, "base64");
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const inner = length > 0 && length + 4 <= blob.length ? blob.subarray(4, 4 + length).toString("latin1") : undefined;
  if (inner !== type) return `the key data is not a ${type} key${inner ? ` (it holds a ${inner} key)` : ""}`;
  return undefined;
}

/** Parses a pinned key line; throws naming the problem. */
export function parsePinnedHostKey(text: string): PinnedHostKey {
  const problem = hostKeyProblem(text);
  if (problem) throw new Error(problem);
  const [type, data] = text.trim().split(/\s+/);
  const blob = Buffer.from(data, "base64");
  return { type: type as HostKeyType, blob, fingerprint: fingerprintOf(blob) };
}

/**
 * The host key algorithms to offer for a pinned key, so the server presents that key and not another of its keys
 * (a host has ed25519, ecdsa and rsa keys; OpenSSH narrows the same way from known_hosts). An RSA key signs with
 * SHA-2 on any OpenSSH of the last years; plain `ssh-rsa` (SHA-1) last, for old servers.
 */
export function hostKeyAlgorithmsFor(type: HostKeyType): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

/** Whether the key a server presented (its blob) is the pinned one. */
export function matchesPinnedKey(presented: Buffer, pinned: PinnedHostKey): boolean {
  return presented.equals(pinned.blob);
}
