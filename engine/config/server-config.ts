import { AuthSpec, JetStreamSpec, LameDuckSpec, TlsSpec } from "../spec";

/**
 * Everything one nats-server's config file says, flattened from the ClusterSpec for one server.
 * Built by `serverConfigFor` (engine/config/for-server.ts) and turned into text by `renderServerConfig`
 * (engine/config/render.ts). Kept separate so a test can render any variant directly.
 */
export interface ServerConfig {
  readonly serverName: string;
  /** Client listen host (usually 0.0.0.0 on VMs, 127.0.0.1 locally). */
  readonly listenHost: string;
  readonly clientPort: number;
  readonly monitorPort: number;
  readonly cluster: {
    readonly name: string;
    readonly listenHost: string;
    readonly port: number;
    /** Route URLs (`nats://host:port`): every member (explicit) or the seed servers. */
    readonly routes: ReadonlyArray<string>;
    readonly noAdvertise: boolean;
  };
  /** undefined: no `jetstream` block (the client-only surge server). */
  readonly jetstream?: JetStreamSpec & { readonly storeDir: string };
  readonly lameDuck: LameDuckSpec;
  readonly pidFile: string;
  readonly auth?: AuthSpec;
  readonly tls?: TlsSpec;
  readonly extraSettings?: Readonly<Record<string, string | number | boolean>>;
}
