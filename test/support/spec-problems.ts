import { ClusterSpec } from "../../engine/spec";
import { Problem } from "../../engine/problem";
import { clusterSpecWarnings, validateClusterSpec } from "../../engine/validate";
import { sampleSpec } from "./sample-spec";

/** The sample loopback spec with some fields changed. */
export const spec = (overrides: Partial<ClusterSpec> = {}): ClusterSpec => sampleSpec("loopback", overrides);

/** The one problem reported for `field` (fails when there is none or several). */
export function problemAt(problems: Problem[], field: string): string {
  const found = problems.filter((p) => p.field === field);
  expect({ field, found: found.length, all: problems }).toEqual(expect.objectContaining({ field, found: 1 }));
  return found[0].message;
}
export const errorAt = (s: ClusterSpec, field: string) => problemAt(validateClusterSpec(s), field);
export const warningAt = (s: ClusterSpec, field: string) => problemAt(clusterSpecWarnings(s), field);
