/**
 * A duration as the engine's messages and event lines write it: seconds with one decimal, `12.3s`. `"fine"` gives
 * hundredths below ten seconds (`1.50s`), for timings that are often under a second (an SSH connect or command).
 */
export function seconds(ms: number, precision: "tenths" | "fine" = "tenths"): string {
  return `${(ms / 1000).toFixed(precision === "fine" && ms < 10_000 ? 2 : 1)}s`;
}
