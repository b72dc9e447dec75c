/**
 * The ssh platform's settings check (what `pulumi preview` reports before anything runs) and driver factory.
 */
import { hostPlatformNames, loadHostPlatform } from "../../engine/hosts/registry";
import { createHostDriver, listenHost, settingsProblems } from "../../engine/hosts/ssh";
import { hostKeyProblem, parsePinnedHostKey } from "../../engine/hosts/ssh/host-key";
import { generateKeyPair } from "./support/local-sshd";

const keyA = generateKeyPair("a").publicKey;
const keyB = generateKeyPair("b").publicKey;
const good = {
  hosts: { "nats-a": { address: "10.0.0.11", user: "ops" }, "nats-b": { address: "10.0.0.12", user: "ops", port: 22 } },
  hostKeys: { "nats-a": keyA, "10.0.0.12": keyB },
};
const fields = (settings: unknown) => settingsProblems(settings).map((p) => `${p.field}: ${p.message}`);

describe("ssh platform settings", () => {
  it("is found by the registry by its folder name and listens on every interface", () => {
    expect(hostPlatformNames()).toContain("ssh");
    expect(loadHostPlatform("ssh").listenHost).toBe("0.0.0.0");
    expect(listenHost).toBe("0.0.0.0");
  });

  it("accepts hosts with keys pinned by server name or by address", () => {
    expect(fields(good)).toEqual([]);
  });

  it("names a missing address, user, and a bad port", () => {
    expect(
      fields({
        ...good,
        hosts: { "nats-a": { user: "" }, "nats-b": { address: "10.0.0.12", user: "ops", port: 70000 } },
      }),
    ).toEqual([
      "hosts.nats-a.address: missing",
      "hosts.nats-a.user: missing; root, or a user with passwordless sudo",
      "hosts.nats-b.port: 70000 is not a port (1-65535); default 22",
    ]);
  });

  it("says which host has no pinned key and how to add one", () => {
    const problems = fields({ ...good, hostKeys: { "nats-a": keyA } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^hostKeys: no pinned key for nats-b \(10\.0\.0\.12\); add "nats-b": "<its public key>"/,
    );
  });

  it("refuses a pinned key that is not a public key line", () => {
    expect(fields({ ...good, hostKeys: { ...good.hostKeys, "nats-a": "AAAAC3NzaC1lZDI1NTE5" } })[0]).toMatch(
      /^hostKeys.nats-a: key type "AAAAC3NzaC1lZDI1NTE5" is not one of ssh-ed25519/,
    );
    const [, data] = keyA.split(" ");
    expect(hostKeyProblem(`ssh-rsa ${data}`)).toBe("the key data is not a ssh-rsa key (it holds a ssh-ed25519 key)");
    expect(hostKeyProblem(`ssh-ed25519 ${data} comment`)).toBeUndefined();
  });

  it("refuses secrets in settings (they are stored in plain text), without quoting them", () => {
    const privateKey = generateKeyPair().privateKey;
    const problems = fields({
      ...good,
      privateKey,
      hosts: { ...good.hosts, "nats-c": { address: privateKey, user: "ops" } },
    });
    expect(problems).toContain(
      "privateKey: secrets do not belong in settings (stored in plain text); pass it as the platform's secret",
    );
    expect(problems).toContain(
      "hosts.nats-c.address: holds a private key: settings are stored in plain text; pass the key as the platform's secret",
    );
    expect(problems.join("\n")).not.toContain(privateKey.split("\n")[1]);
  });

  it("checks surge, sudo, arch, releaseBaseUrl, stopTimeoutSeconds and paths", () => {
    expect(
      fields({
        ...good,
        surge: "nats-z",
        sudo: "yes",
        arch: "x86_64",
        releaseBaseUrl: "ftp://mirror/nats",
        stopTimeoutSeconds: 30,
        paths: { configPath: "etc/nats.conf", pidFile: "/tmp/nats.pid", logDir: "/var/log" },
      }),
    ).toEqual([
      'surge: "nats-z" is not one of the hosts; name the surge server\'s entry in hosts',
      "sudo: must be true or false",
      'arch: "x86_64" is not amd64 or arm64',
      'releaseBaseUrl: "ftp://mirror/nats" is not an http(s) URL; write one such as ' +
        "https://mirror.example.com/nats-server (serving <base>/v<version>/<asset> and SHA256SUMS)",
      "stopTimeoutSeconds: 30 must be a whole number of seconds above 30 (the shortest lame duck); default 150",
      'paths.configPath: "etc/nats.conf" must be an absolute path of letters, digits, "_", ".", "-" and "/"',
      'paths.pidFile: "/tmp/nats.pid" must be /run/<dir>/<file> (a systemd RuntimeDirectory)',
      "paths.logDir: unknown; the paths are installDir, configPath, dataDir, pidFile",
    ]);
  });

  it("createHostDriver throws with every problem, and refuses an unusable private key without quoting it", () => {
    expect(() => createHostDriver({ hosts: {} })).toThrow(
      /^ssh platform settings: hosts: missing; .*hostKeys: missing/,
    );
    const publicOnly = keyA;
    expect(() => createHostDriver(good, { secrets: { privateKey: publicOnly } })).toThrow(
      "ssh platform secret privateKey: not a private key (a public key was given)",
    );
    expect(() =>
      createHostDriver(good, { secrets: { privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n" } }),
    ).toThrow(/^ssh platform secret privateKey: not a usable private key/);
    const driver = createHostDriver(good, { secrets: { privateKey: generateKeyPair().privateKey } });
    expect(driver.platform).toBe("ssh");
  });

  it("parses a pinned key into its type and OpenSSH fingerprint", () => {
    const pinned = parsePinnedHostKey(keyA);
    expect(pinned.type).toBe("ssh-ed25519");
    expect(pinned.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
