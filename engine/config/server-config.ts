import { AuthSpec, JetStreamSpec, LameDuckSpec } from "../spec";

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
  /**
   * Host the monitoring port binds to. The listen host, or `127.0.0.1` when the engine reads monitoring through the
   * system account: then no monitoring port is reachable off the host.
   */
  readonly monitorHost?: string;
  readonly cluster: {
    readonly name: string;
    readonly listenHost: string;
    readonly port: number;
    /** Route URLs (`nats://host:port`): every member (explicit) or the seed servers. */
    readonly routes: ReadonlyArray<string>;
    readonly noAdvertise: boolean;
    /** Route TLS (`cluster { tls {} }`): always mutual, the CA is the only trust. */
    readonly tls?: TlsFiles;
  };
  /** `gateway {}`: this cluster's name, where this server listens for gateways, and the other clusters. */
  readonly gateway?: {
    readonly name: string;
    readonly listenHost: string;
    readonly port: number;
    readonly remotes: ReadonlyArray<{ readonly name: string; readonly urls: ReadonlyArray<string> }>;
    /**
     * Gateway TLS (`gateway { tls {} }`): always mutual, the CA file (this cluster's CA, and the other clusters' when
     * `trust` is set: a bundle of the gateway's own) is the only trust.
     */
    readonly tls?: TlsFiles & {
      /**
       * `sha256:…` of the gateway's CA bundle when it trusts other clusters' CAs: written into the file and part of
       * the restart digest, so a change of the trusted CAs is a restart (a reload keeps gateways made before).
       */
      readonly trust?: string;
    };
  };
  /**
   * `leafnodes {}`: where this member accepts leaf-node connections (`listen`, with the client TLS when clients use
   * TLS: leaves are authenticated as clients are, no block of their own; absent on the surge server), and the hub
   * this server connects out to as a leaf (`remotes`, every server).
   */
  readonly leafnodes?: {
    readonly listen?: {
      readonly listenHost: string;
      readonly port: number;
      readonly tls?: TlsFiles & { readonly verify?: boolean };
    };
    readonly remotes?: ReadonlyArray<LeafRemote>;
  };
  /** undefined: no `jetstream` block (the client-only surge server). */
  readonly jetstream?: JetStreamSpec & { readonly storeDir: string };
  readonly lameDuck: LameDuckSpec;
  readonly pidFile: string;
  readonly auth?: AuthSpec;
  /** Client TLS (`tls {}`); absent when clients connect in plaintext. */
  readonly tls?: TlsFiles & {
    readonly verify?: boolean;
    /** `allow_non_tls`: plaintext clients are still accepted (the phase that moves clients to TLS). */
    readonly allowNonTls?: boolean;
  };
  /**
   * `sha256:…` of the delivered certificate and CA (never the key): written into the file as a comment, so a new
   * certificate at the same paths changes the config text and the planner sees a rotation (a reload).
   */
  readonly tlsMaterial?: string;
  readonly extraSettings?: Readonly<Record<string, string | number | boolean>>;
}

/** One `leafnodes { remotes }` entry: the hub this server connects out to as a leaf. */
export interface LeafRemote {
  /** The hub's leafnode URLs, as the spec gives them (no credentials). */
  readonly urls: ReadonlyArray<string>;
  /**
   * The user the leaf connects as, and its password (a secret: rendered into each URL's user info, percent-encoded,
   * the way nats-server's remotes take it; never logged).
   */
  readonly credentials?: { readonly user: string; readonly password: string };
  /** TLS to the hub: the CA that verifies the hub, and the certificate presented to a hub that verifies clients. */
  readonly tls?: TlsFiles;
}

/** Certificate, key and CA paths on the server's host. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile?: string;
}
