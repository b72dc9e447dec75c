/**
 * Whether the ssh transport tries to connect again after a failed attempt, and after how long. A pure decision, so
 * the unit tier tests it (test/ssh/connect-retry.unit.test.ts); the transport (./transport.ts) classifies each failed
 * attempt into a {@link ConnectFailureKind}.
 *
 * The kinds differ in what they say about the host:
 * - `answered`: sshd took the TCP connection, then closed or reset it before the session was up. The host is alive:
 *   a VM still booting (pam_nologin: sshd closes a user other than root out after its banner until
 *   systemd-user-sessions has run), an sshd past MaxStartups (it drops new unauthenticated connections at random once
 *   10 are pending) or overloaded. Another attempt soon is likely to work, so it goes on until the command's
 *   deadline, the backoff capped.
 * - `refused`: nothing listening, or no route: the VM is down or its sshd not started yet. A few attempts (the
 *   transport's `connectAttempts`, default 4: about 3.5 s of backoff), then the failure is reported.
 * - `silent`: nothing answered within an attempt's deadline (a powered-off VM behind a network that drops its
 *   packets, as a cloud VPC does). One more attempt only: a dead VM must be reported fast (each attempt is 10 s).
 * - `final`: another attempt cannot help (host key mismatch, key refused, no such host).
 */

export type ConnectFailureKind = "answered" | "refused" | "silent" | "final";

/** Attempts in all for a host that answered nothing (see `silent` above): four silent 10 s attempts cost 43 s. */
export const SILENT_CONNECT_ATTEMPTS = 2;
/** The first backoff; each next one doubles, up to {@link MAX_CONNECT_BACKOFF_MS}. */
export const FIRST_CONNECT_BACKOFF_MS = 500;
/** The longest wait between two attempts (only `answered` failures get that far). */
export const MAX_CONNECT_BACKOFF_MS = 4000;

export interface ConnectRetryInput {
  /** The attempt that just failed, from 1. */
  readonly attempt: number;
  readonly kind: ConnectFailureKind;
  /** Attempts allowed for a `refused` host. */
  readonly connectAttempts: number;
  /** Milliseconds left before the command's deadline. */
  readonly msLeft: number;
}

/** Milliseconds to wait before the next attempt, or undefined: give up and report this failure. */
export function connectRetryDelay({ attempt, kind, connectAttempts, msLeft }: ConnectRetryInput): number | undefined {
  if (kind === "final") return undefined;
  const attempts =
    kind === "silent"
      ? Math.min(SILENT_CONNECT_ATTEMPTS, connectAttempts)
      : kind === "refused"
        ? connectAttempts
        : Infinity;
  if (attempt >= attempts) return undefined;
  const backoffMs = Math.min(MAX_CONNECT_BACKOFF_MS, FIRST_CONNECT_BACKOFF_MS * 2 ** (attempt - 1));
  return backoffMs < msLeft ? backoffMs : undefined;
}
