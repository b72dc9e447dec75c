import { DEFAULT_LAME_DUCK } from "../../engine/defaults";
import { ClusterSpec, MemberSpec } from "../../engine/spec";

/**
 * A valid 3-member JetStream spec for tests that need no running server, in one of two layouts:
 * "vm" — one host per server on the default ports (10.0.0.1–3, surge 10.0.0.9), as on EC2;
 * "loopback" — every server on 127.0.0.1 with its own ports (4221–4223…, surge …9), as the local platform.
 */
export function sampleSpec(layout: "vm" | "loopback", overrides: Partial<ClusterSpec> = {}): ClusterSpec {
  const server = (name: string, i: number) => sampleServer(layout, name, i);
  return {
    name: "nats-test",
    version: "2.15.2",
    members: [server("n1", 1), server("n2", 2), server("n3", 3)],
    surge: server("n-surge", 9),
    routes: { kind: "explicit" },
    jetstream: { enabled: true },
    lameDuck: DEFAULT_LAME_DUCK,
    ...overrides,
  };
}

/** Server number `i` of a layout (see sampleSpec). */
export function sampleServer(layout: "vm" | "loopback", name: string, i: number): MemberSpec {
  return layout === "vm"
    ? { name, host: `10.0.0.${i}`, clientPort: 4222, clusterPort: 6222, monitorPort: 8222 }
    : { name, host: "127.0.0.1", clientPort: 4220 + i, clusterPort: 6220 + i, monitorPort: 8220 + i };
}
