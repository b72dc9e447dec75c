/**
 * The pure parts of engine/tls: which hosts go to which SANs, whether SANs cover a host, when a certificate is due
 * for renewal (renewalReason, expiresWithin), and certificateFacts on a real certificate (a chain's first one).
 */
import { certificateFacts, CertificateFacts, expiresWithin } from "../../engine/tls/inspect";
import {
  canonicalIp,
  clusterCertificateHosts,
  hostProblem,
  sansCover,
  subjectAltNamesFor,
} from "../../engine/tls/names";
import { issueCertificateAuthority, issueServerCertificate } from "../../engine/tls/pki";
import { renewalReason } from "../../engine/tls/renewal";

const DAY = 24 * 60 * 60 * 1000;
const now = new Date("2026-06-01T00:00:00.000Z");

function facts(overrides: Partial<CertificateFacts>): CertificateFacts {
  return {
    fingerprintSha256: "sha256:00",
    notBefore: new Date(now.getTime() - 100 * DAY),
    notAfter: new Date(now.getTime() + 200 * DAY),
    subject: "CN=unit",
    dnsNames: ["localhost", "nats-a.example.internal"],
    ipAddresses: ["127.0.0.1", "10.0.0.1"],
    ...overrides,
  };
}

describe("host names and addresses as SANs", () => {
  it("canonicalIp: IPv4 as is, IPv6 compressed and lower case, brackets dropped, anything else undefined", () => {
    expect(canonicalIp("10.0.0.1")).toBe("10.0.0.1");
    expect(canonicalIp("0:0:0:0:0:0:0:1")).toBe("::1");
    expect(canonicalIp("[FD00:0::A]")).toBe("fd00::a");
    expect(canonicalIp("nats-a")).toBeUndefined();
    expect(canonicalIp("10.0.0.256")).toBeUndefined();
  });

  it("hostProblem accepts addresses and DNS names (a wildcard in front too), names what it refuses", () => {
    for (const ok of ["10.0.0.1", "::1", "nats-a", "nats-a.example.internal", "*.example.internal", "NATS.Example."])
      expect(hostProblem(ok)).toBeUndefined();
    for (const bad of ["", " ", "-a", "a-", "a..b", "a_b", "a/b", `${"a".repeat(64)}.example`, "*"])
      expect(hostProblem(bad)).toMatch(/is neither an IP address nor a DNS name|is not a host name/);
    expect(hostProblem(42)).toBe("42 is not a host name or address");
  });

  it("subjectAltNamesFor splits hosts into DNS and IP SANs, canonical, each once, in order", () => {
    expect(subjectAltNamesFor(["Nats-A.example", "10.0.0.1", "0:0::1", "nats-a.example.", "::1"])).toEqual({
      dnsNames: ["nats-a.example"],
      ipAddresses: ["10.0.0.1", "::1"],
    });
    expect(() => subjectAltNamesFor(["a_b"])).toThrow(/"a_b" is neither/);
  });

  it("clusterCertificateHosts adds localhost and 127.0.0.1 once", () => {
    expect(clusterCertificateHosts(["10.0.0.1", "LOCALHOST"])).toEqual(["10.0.0.1", "LOCALHOST", "127.0.0.1"]);
    expect(clusterCertificateHosts([])).toEqual(["localhost", "127.0.0.1"]);
  });

  it("sansCover: addresses against IP SANs only, names against DNS SANs, one-label wildcards", () => {
    const sans = { dnsNames: ["nats-a.example", "*.zone.example"], ipAddresses: ["10.0.0.1", "::1"] };
    expect(sansCover(sans, "10.0.0.1")).toBe(true);
    expect(sansCover(sans, "0:0:0:0:0:0:0:1")).toBe(true);
    expect(sansCover(sans, "10.0.0.2")).toBe(false);
    expect(sansCover(sans, "NATS-A.example")).toBe(true);
    expect(sansCover(sans, "b.zone.example")).toBe(true);
    expect(sansCover(sans, "c.b.zone.example")).toBe(false);
    expect(sansCover(sans, "zone.example")).toBe(false);
    expect(sansCover({ dnsNames: ["10.0.0.1"], ipAddresses: [] }, "10.0.0.1")).toBe(false);
  });
});

describe("renewalReason and expiresWithin", () => {
  const policy = { hosts: ["localhost", "127.0.0.1", "nats-a.example.internal", "10.0.0.1"], renewBeforeDays: 30, now };

  it("undefined when every host is named and the end is further than renewBeforeDays", () => {
    expect(renewalReason(facts({}), policy)).toBeUndefined();
    expect(renewalReason(facts({ notAfter: new Date(now.getTime() + 30 * DAY + 1000) }), policy)).toBeUndefined();
  });

  it("a host not named, in order", () => {
    expect(renewalReason(facts({}), { ...policy, hosts: [...policy.hosts, "10.0.0.9", "nats-d.example"] })).toBe(
      "it does not name 10.0.0.9, nats-d.example",
    );
  });

  it("an end within renewBeforeDays (the boundary included), or already past", () => {
    expect(renewalReason(facts({ notAfter: new Date(now.getTime() + 30 * DAY) }), policy)).toBe(
      "it expires on 2026-07-01T00:00:00.000Z, in 30.0 days, within the 30 days before expiry when it is renewed",
    );
    expect(renewalReason(facts({ notAfter: new Date(now.getTime() + 12 * 3600 * 1000) }), policy)).toMatch(
      /in 0\.5 days, within the 30 days/,
    );
    expect(renewalReason(facts({ notAfter: new Date(now.getTime() - DAY) }), policy)).toBe(
      "it expired on 2026-05-31T00:00:00.000Z",
    );
  });

  it("both reasons together", () => {
    const reason = renewalReason(
      facts({ notAfter: new Date(now.getTime() + DAY), ipAddresses: ["127.0.0.1"] }),
      policy,
    );
    expect(reason).toMatch(/^it does not name 10\.0\.0\.1; it expires on .* in 1\.0 days/);
  });

  it("renewBeforeDays 0 renews only what has expired", () => {
    const soon = facts({ notAfter: new Date(now.getTime() + 1000) });
    expect(renewalReason(soon, { ...policy, renewBeforeDays: 0 })).toBeUndefined();
    expect(expiresWithin(soon, 0, now)).toBe(false);
    expect(expiresWithin(soon, 0, new Date(now.getTime() + 1000))).toBe(true);
  });

  it("on a real certificate: certificateFacts of a chain is its first certificate's", async () => {
    const ca = await issueCertificateAuthority({ commonName: "unit CA", validityDays: 10, now });
    const server = await issueServerCertificate({
      ca,
      commonName: "unit",
      dnsNames: ["localhost", "nats-a.example.internal"],
      ipAddresses: ["127.0.0.1"],
      validityDays: 40,
      now,
    });
    const chain = certificateFacts(server.certPem + ca.certPem);
    expect(chain).toEqual(certificateFacts(server.certPem));
    expect(chain.fingerprintSha256).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The server certificate was capped at the CA's 10 days: it is due now, and it does not name 10.0.0.1.
    expect(renewalReason(chain, policy)).toMatch(/^it does not name 10\.0\.0\.1; it expires on .*, in 10\.0 days/);
    expect(() => certificateFacts("no certificate here")).toThrow(/holds no PEM certificate/);
  });
});
