/**
 * The small readers every part of the stack-config decoder uses (the core keys and each platform's block): they
 * record a problem naming the key and the fix, and return undefined for a bad value so decoding goes on and
 * reports everything at once. A value under a secret key is never shown: messages say `[secret]` instead.
 */
import type { Problem } from "../../engine/problem";

export type Obj = Record<string, unknown>;

/**
 * Collects problems, each at its config key without the namespace and with the path inside its value (e.g.
 * `members[1].clientPort`); knows which keys are secret so no reader ever echoes their values.
 */
export class Problems {
  readonly list: Problem[] = [];
  constructor(private readonly secretKeys: ReadonlyArray<string> = []) {}

  add(key: string, message: string): void {
    this.list.push({ field: key, message });
  }

  /** How a value is quoted in a message: as JSON, or `[secret]` under a secret key. */
  show(key: string, value: unknown): string {
    const top = key.split(/[.[]/)[0];
    if (this.secretKeys.includes(top)) return '"[secret]"';
    return typeof value === "string" ? JSON.stringify(value) : String(JSON.stringify(value) ?? value);
  }

  reported(key: string): boolean {
    return this.list.some((x) => key === x.field || key.startsWith(`${x.field}.`) || key.startsWith(`${x.field}[`));
  }
}

/** Pulumi hands every top-level config value over as a string; structured values are JSON. Tests pass values. */
export function decodeJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const t = value.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch {
      return value;
    }
  }
  return value;
}

export function readString(p: Problems, key: string, value: unknown, hint: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string" && value.length > 0) return value;
  if (typeof value === "number") return String(value);
  p.add(key, `${p.show(key, value)} is not a text value; ${hint}`);
  return undefined;
}

export function readInt(p: Problems, key: string, value: unknown, hint: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n === "number" && Number.isInteger(n)) return n;
  p.add(key, `${p.show(key, value)} is not a whole number; ${hint}`);
  return undefined;
}

/** A number as YAML or `pulumi config set` left it (`"5"` is 5); anything else is kept for the validator. */
export function numberish(value: unknown): unknown {
  return typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}

/** A boolean as YAML or `pulumi config set` left it (`"true"` is true); anything else is kept for the validator. */
export function booleanish(value: unknown): unknown {
  return value === "true" ? true : value === "false" ? false : value;
}

export function readBool(p: Problems, key: string, value: unknown): boolean | undefined {
  const v = booleanish(value);
  if (v === undefined || typeof v === "boolean") return v;
  p.add(key, `${p.show(key, value)} is not true or false; write true or false`);
  return undefined;
}

export function readObject(p: Problems, key: string, value: unknown, hint: string): Obj | undefined {
  const v = decodeJson(value);
  if (v === undefined) return undefined;
  if (v !== null && typeof v === "object" && !Array.isArray(v)) return v as Obj;
  const got = Array.isArray(v)
    ? "a list"
    : typeof v === "string" && v.trim().startsWith("{")
      ? "text that is not valid JSON"
      : p.show(key, v);
  p.add(key, `expected an object, got ${got}; ${hint}`);
  return undefined;
}

export function readList(p: Problems, key: string, value: unknown, hint: string): unknown[] | undefined {
  const v = decodeJson(value);
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v;
  p.add(key, `expected a list, got ${p.show(key, v)}; ${hint}`);
  return undefined;
}

export function readStringList(p: Problems, key: string, value: unknown, hint: string): string[] | undefined {
  const list = readList(p, key, value, hint);
  if (!list) return undefined;
  const bad = list.findIndex((x) => typeof x !== "string" || x.length === 0);
  if (bad >= 0) {
    p.add(`${key}[${bad}]`, `${p.show(key, list[bad])} is not a text value; ${hint}`);
    return undefined;
  }
  return list as string[];
}

/** Unknown fields inside an object value are typos: name them, suggest the nearest, list the known ones. */
export function refuseUnknownFields(p: Problems, key: string, obj: Obj, known: ReadonlyArray<string>): void {
  for (const field of Object.keys(obj)) {
    if (!known.includes(field))
      p.add(`${key}.${field}`, `unknown field${didYouMean(field, known)}; the known fields are ${known.join(", ")}`);
  }
}

/** ` (did you mean version?)` when a known name is within two edits, differs in case or starts with it; else "". */
export function didYouMean(name: string, known: ReadonlyArray<string>): string {
  let best: { name: string; distance: number } | undefined;
  for (const k of known) {
    const [a, b] = [name.toLowerCase(), k.toLowerCase()];
    // The same word cut short (`lameDuckDuration`) counts as one edit, like a typo.
    const d = a === b ? 0 : a.length >= 5 && b.startsWith(a) ? 1 : editDistance(a, b);
    if (!best || d < best.distance) best = { name: k, distance: d };
  }
  return best && best.distance <= Math.max(1, Math.min(2, Math.floor(name.length / 3)))
    ? ` (did you mean ${best.name}?)`
    : "";
}

/** Levenshtein distance with adjacent transpositions (`verison` → `version` is one edit). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
