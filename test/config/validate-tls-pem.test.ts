/**
 * TLS material a platform delivers (tls.pem), validated before anything reaches a host. Its certificates are made by
 * openssl (test/support/certificates.ts), independent of the engine's own code, so this file starts processes and is
 * not in the unit tier; the rest of the spec validation is validate.unit.test.ts.
 */
import { clusterSpecWarnings, validateClusterSpec } from "../../engine/validate";
import { makeTestCa, TestCa } from "../support/certificates";
import { errorAt, spec, warningAt } from "../support/spec-problems";

describe("TLS material delivered by the platform (tls.pem), checked before anything reaches a host", () => {
  let ca: TestCa;
  let other: TestCa;
  beforeAll(() => {
    ca = makeTestCa("validate-ca");
    other = makeTestCa("other-ca");
  });
  afterAll(() => {
    ca.dispose();
    other.dispose();
  });

  it("accepts a certificate of its CA that names every host, with its own key", () => {
    expect(validateClusterSpec(spec({ tls: { pem: ca.issue() } }))).toEqual([]);
    expect(clusterSpecWarnings(spec({ tls: { pem: ca.issue() } }))).toEqual([]);
  });
  it("refuses a key that is not the certificate's", () => {
    const pem = { ...ca.issue(), keyPem: ca.issue().keyPem };
    expect(errorAt(spec({ tls: { pem } }), "tls.pem.keyPem")).toMatch(/not the key of tls\.pem\.certPem/);
  });
  it("refuses a CA that did not sign the certificate", () => {
    const pem = { ...ca.issue(), caPem: other.caPem };
    expect(errorAt(spec({ tls: { pem } }), "tls.pem.caPem")).toMatch(/did not sign/);
  });
  it("refuses a certificate that does not name a server's host, naming the server", () => {
    const pem = ca.issue({ hosts: ["localhost"] });
    const found = validateClusterSpec(spec({ tls: { pem } })).filter((p) => p.field === "tls.pem.certPem");
    expect(found.map((p) => p.message.match(/does not name (\S+)/)?.[1])).toEqual([
      "members[0]",
      "members[1]",
      "members[2]",
      "surge",
    ]);
    expect(found[0].message).toMatch(/\(n1, host 127\.0\.0\.1\).*DNS:localhost/);
  });
  it("warns at preview when the certificate expires within 30 days", () => {
    expect(warningAt(spec({ tls: { pem: ca.issue({ days: 10 }) } }), "tls.pem.certPem")).toMatch(
      /expires on .* \(in (9|10) days\).*rolling reload/,
    );
  });
  it("refuses pem and files together, unknown client modes, and system-account monitoring without the account", () => {
    expect(errorAt(spec({ tls: { pem: ca.issue(), certFile: "/c" } }), "tls.pem")).toMatch(/either/);
    expect(errorAt(spec({ tls: { pem: ca.issue(), clients: "maybe" as never } }), "tls.clients")).toMatch(/"optional"/);
    expect(errorAt(spec({ monitoring: "system-account" }), "monitoring")).toMatch(/auth\.systemAccount/);
  });
  it("never quotes the key in a message", () => {
    const pem = { ...ca.issue(), keyPem: "-----BEGIN PRIVATE KEY-----\nnot-a-key-SECRET\n-----END PRIVATE KEY-----\n" };
    const all = JSON.stringify(validateClusterSpec(spec({ tls: { pem } })));
    expect(all).toMatch(/tls\.pem\.keyPem/);
    expect(all).not.toContain("SECRET");
  });
});
