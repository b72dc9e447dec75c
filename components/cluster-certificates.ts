/**
 * `ClusterCertificates`: the TLS material a stack makes for itself (local, lab, demo): a CA of the cluster's own and
 * one server certificate, signed by it, that every member and the surge server present on their client and route
 * ports. The provider (cluster-certificates-provider.ts) is the adapter; the logic is the engine's (engine/tls).
 *
 * The server certificate is issued again, with the same CA, when `hosts` or `rotation` change or when it comes
 * within `renewBeforeDays` of its end (judged at each preview and up). A new `clusterName` replaces the resource and
 * so the CA. The private keys are secret outputs: encrypted in state, `[secret]` in `pulumi stack output`.
 */
import * as pulumi from "@pulumi/pulumi";
import { clusterCertificatesProvider } from "./cluster-certificates-provider";

/** Arguments of {@link ClusterCertificates}. */
export interface ClusterCertificatesArgs {
  /**
   * The cluster's name: the server certificate's common name, and the CA's (`<clusterName> CA`). A change replaces
   * the resource: a new CA.
   */
  readonly clusterName: pulumi.Input<string>;
  /**
   * Every host clients and peers reach a server by: IP addresses become IP SANs, names DNS SANs. `localhost` and
   * `127.0.0.1` are always added (the engine's gates and local tools use them). A change issues a new certificate.
   */
  readonly hosts: pulumi.Input<pulumi.Input<string>[]>;
  /** The server certificate's validity in days. Default 365. */
  readonly validityDays?: pulumi.Input<number>;
  /** Issue the server certificate again when it expires within this many days (below validityDays). Default 30. */
  readonly renewBeforeDays?: pulumi.Input<number>;
  /** A number to bump to force a new server certificate and key now (e.g. after a key may have leaked). Default 0. */
  readonly rotation?: pulumi.Input<number>;
}

export class ClusterCertificates extends pulumi.dynamic.Resource {
  /** The CA certificate (PEM): what clients and peers trust (`ca_file`). */
  declare readonly caPem: pulumi.Output<string>;
  /** The CA's private key (PEM, secret). Kept to sign the next server certificate. */
  declare readonly caKeyPem: pulumi.Output<string>;
  /** The server certificate (PEM, `cert_file`). */
  declare readonly certPem: pulumi.Output<string>;
  /** The server certificate's private key (PKCS#8 PEM, `key_file`, secret). */
  declare readonly keyPem: pulumi.Output<string>;
  /** The server certificate's fingerprint, `sha256:<hex of DER>`: what a server serving it shows. */
  declare readonly fingerprint: pulumi.Output<string>;
  /** When the server certificate expires (ISO 8601). */
  declare readonly notAfter: pulumi.Output<string>;
  /** The CA certificate's fingerprint, `sha256:<hex of DER>`. */
  declare readonly caFingerprint: pulumi.Output<string>;
  /** When the CA expires (ISO 8601). */
  declare readonly caNotAfter: pulumi.Output<string>;

  constructor(name: string, args: ClusterCertificatesArgs, opts: pulumi.CustomResourceOptions = {}) {
    super(
      clusterCertificatesProvider,
      name,
      {
        clusterName: args.clusterName,
        hosts: args.hosts,
        validityDays: args.validityDays,
        renewBeforeDays: args.renewBeforeDays,
        rotation: args.rotation,
        caPem: undefined,
        caKeyPem: undefined,
        certPem: undefined,
        keyPem: undefined,
        fingerprint: undefined,
        notAfter: undefined,
        caFingerprint: undefined,
        caNotAfter: undefined,
      },
      // The provider returns the keys in plain text: they must be marked secret, or the state would hold them so.
      { ...opts, additionalSecretOutputs: [...(opts.additionalSecretOutputs ?? []), "keyPem", "caKeyPem"] },
      "nats-cluster",
      "ClusterCertificates",
    );
  }
}
