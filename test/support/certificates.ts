import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TlsPem } from "../../engine/spec";

/** A CA of its own (PEM), for tests: its key stays in a temp dir until {@link TestCa.dispose}. */
export interface TestCa {
  readonly caPem: string;
  /** A server certificate of this CA: EC P-256, serverAuth and clientAuth (routes use it both ways). */
  issue(opts?: { days?: number; hosts?: ReadonlyArray<string>; cn?: string }): TlsPem;
  dispose(): void;
}

/**
 * A CA and server certificates made by openssl, independent of the engine's own code, so a test of what the engine
 * delivers does not check the engine with itself. Loopback certificates name 127.0.0.1 and localhost (nats.js
 * verifies a loopback server under the name "localhost").
 */
export function makeTestCa(name = "test-ca"): TestCa {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nats-ca-"));
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const ecKey = (file: string) =>
    ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file);
  ecKey(f("ca.key"));
  ssl("req", "-x509", "-new", "-key", f("ca.key"), "-days", "90", "-subj", `/CN=${name}`, "-out", f("ca.pem"));
  let serial = 0;
  return {
    caPem: fs.readFileSync(f("ca.pem"), "utf8"),
    issue(opts = {}) {
      const n = ++serial;
      const hosts = opts.hosts ?? ["127.0.0.1", "localhost"];
      const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
      fs.writeFileSync(
        f(`s${n}.ext`),
        `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n`,
      );
      ecKey(f(`s${n}.key`));
      ssl("req", "-new", "-key", f(`s${n}.key`), "-subj", `/CN=${opts.cn ?? "nats-server"}`, "-out", f(`s${n}.csr`));
      ssl(
        "x509",
        "-req",
        "-in",
        f(`s${n}.csr`),
        "-CA",
        f("ca.pem"),
        "-CAkey",
        f("ca.key"),
        "-set_serial",
        String(1000 + n),
        "-days",
        String(opts.days ?? 60),
        "-extfile",
        f(`s${n}.ext`),
        "-out",
        f(`s${n}.pem`),
      );
      return {
        certPem: fs.readFileSync(f(`s${n}.pem`), "utf8"),
        keyPem: fs.readFileSync(f(`s${n}.key`), "utf8"),
        caPem: fs.readFileSync(f("ca.pem"), "utf8"),
      };
    },
    dispose: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
