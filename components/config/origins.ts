/**
 * Which config key each engine field came from, recorded as the decoder fills a spec: an engine problem at
 * `lameDuck.durationSeconds` is reported at `nats-cluster:lameDuckDurationSeconds`, one at `members[1].name` of a
 * supercluster's second cluster at `nats-cluster:clusters[1].members[1].name`.
 */
export class FieldOrigins {
  private readonly origins = new Map<string, string>();
  set(engineField: string, configKey: string): void {
    this.origins.set(engineField, configKey);
  }
  /** A copy to add one cluster's own origins to, keeping the shared ones. */
  copy(): FieldOrigins {
    const copy = new FieldOrigins();
    for (const [field, key] of this.origins) copy.set(field, key);
    return copy;
  }
  /** The config key of an engine field path: its longest recorded prefix, with the rest of the path kept. */
  keyOf(field: string): string {
    let best = "";
    for (const prefix of this.origins.keys()) {
      const matches = field === prefix || field.startsWith(`${prefix}.`) || field.startsWith(`${prefix}[`);
      if (matches && prefix.length > best.length) best = prefix;
    }
    return best ? this.origins.get(best)! + field.slice(best.length) : field;
  }
}
