/**
 * When a server certificate must be issued again, and the defaults of a cluster's own CA. Pure: the
 * ClusterCertificates provider's diff asks this, and so can a test, without Pulumi.
 */
import { CertificateFacts, expiresWithin } from "./inspect";
import { sansCover } from "./names";

/** The lifetimes of the certificates a stack makes for itself. */
export const TLS_DEFAULTS = {
  /** A server certificate's validity, in days. */
  serverValidityDays: 365,
  /** A server certificate is issued again when it expires within this many days. */
  renewBeforeDays: 30,
  /**
   * The cluster CA's validity, in days (10 years). Rotating the CA is out of scope: its certificate is what every
   * client trusts, so it must outlive many server certificates; a server certificate never outlives the CA.
   */
  caValidityDays: 3650,
} as const;

export interface RenewalPolicy {
  /** Every host the certificate must name (loopback included when wanted). */
  readonly hosts: ReadonlyArray<string>;
  /** Renew when the certificate expires within this many days. */
  readonly renewBeforeDays: number;
  readonly now: Date;
}

/**
 * Why the certificate must be issued again, or undefined when it need not: hosts it does not name, and an end of
 * validity within `renewBeforeDays` of `now` (or past). Several reasons are joined with "; ".
 */
export function renewalReason(
  facts: Pick<CertificateFacts, "notAfter" | "dnsNames" | "ipAddresses">,
  policy: RenewalPolicy,
): string | undefined {
  const reasons: string[] = [];
  const missing = policy.hosts.filter((host) => !sansCover(facts, host));
  if (missing.length > 0) reasons.push(`it does not name ${missing.join(", ")}`);
  if (expiresWithin(facts, policy.renewBeforeDays, policy.now)) {
    const days = (facts.notAfter.getTime() - policy.now.getTime()) / (24 * 60 * 60 * 1000);
    const at = facts.notAfter.toISOString();
    reasons.push(
      days <= 0
        ? `it expired on ${at}`
        : `it expires on ${at}, in ${days.toFixed(1)} days, within the ${policy.renewBeforeDays} days before expiry ` +
            "when it is renewed",
    );
  }
  return reasons.length > 0 ? reasons.join("; ") : undefined;
}
