/**
 * Every package the shipped code loads is declared in package.json `dependencies` (or `peerDependencies`: the
 * program's own `@pulumi/pulumi`, which npm installs with the package, so a program has one Pulumi runtime):
 * engine/, components/, cli/ and index.ts run in the Pulumi program, the dynamic provider and the command line, where
 * devDependencies may be absent (a production install). An undeclared one works here only because something else
 * pulled it into node_modules (as `js-yaml` once did). Read with the TypeScript parser: static imports and
 * re-exports, `import x = require()`, `require("…")` and `import("…")` with a literal name. Type-only imports are
 * erased from the JavaScript; they may name any declared package, devDependencies included.
 */
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import * as path from "node:path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "..", "..");
const SHIPPED = ["engine", "components", "cli", "index.ts"];

interface PackageJson {
  readonly dependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
}
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as PackageJson;
/** What a production install of the package brings: its dependencies and its peers. */
const installed = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})];

function tsFiles(entry: string): string[] {
  const full = path.join(ROOT, entry);
  if (fs.statSync(full).isFile()) return [full];
  return fs
    .readdirSync(full, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? tsFiles(path.join(entry, e.name)) : e.name.endsWith(".ts") ? [path.join(full, e.name)] : [],
    );
}

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`), or undefined for a path or a builtin. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith(".") || specifier.startsWith("/") || specifier.startsWith("node:")) return undefined;
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  return builtinModules.includes(name) ? undefined : name;
}

interface Use {
  readonly pkg: string;
  readonly typeOnly: boolean;
  readonly where: string;
}

function usesIn(file: string): Use[] {
  const text = fs.readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const uses: Use[] = [];
  const add = (literal: ts.Expression | undefined, typeOnly: boolean) => {
    if (!literal || !ts.isStringLiteralLike(literal)) return;
    const name = packageOf(literal.text);
    if (!name) return;
    const { line } = source.getLineAndCharacterOfPosition(literal.getStart());
    uses.push({ pkg: name, typeOnly, where: `${path.relative(ROOT, file)}:${line + 1}` });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === "require";
      const isResolve =
        ts.isPropertyAccessExpression(callee) &&
        ts.isIdentifier(callee.expression) &&
        callee.expression.text === "require" &&
        callee.name.text === "resolve";
      if (isRequire || isResolve || callee.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

const uses = SHIPPED.flatMap(tsFiles).flatMap(usesIn);

/**
 * Loaded on purpose from a declared package's own dependencies (`require.resolve(name, { paths: [its folder] })`),
 * not ours: the copy that package runs on. Each must be a dependency of the package named here.
 */
const LOADED_FROM: Record<string, { readonly from: string; readonly why: string }> = {
  "@grpc/grpc-js": {
    from: "@pulumi/pulumi",
    why: "components/stop-request.ts watches the Cancel RPC on the grpc-js the dynamic-provider server runs on",
  },
};

describe("the packages the shipped code loads", () => {
  it("finds the code's imports (the scan reads what it should)", () => {
    const loaded = new Set(uses.filter((u) => !u.typeOnly).map((u) => u.pkg));
    for (const known of ["@pulumi/pulumi", "@nats-io/transport-node", "@nats-io/nats-core", "js-yaml", "ssh2"]) {
      expect(loaded).toContain(known);
    }
  });

  it("are every one declared in dependencies (or peerDependencies)", () => {
    const declared = new Set(installed);
    const missing = uses
      .filter((u) => !u.typeOnly && !declared.has(u.pkg) && !LOADED_FROM[u.pkg])
      .map((u) => `${u.pkg} (${u.where})`);
    expect(missing).toEqual([]);
  });

  it("what is loaded from another package's dependencies is one of that declared package's dependencies", () => {
    for (const [name, { from }] of Object.entries(LOADED_FROM)) {
      expect(installed).toContain(from);
      const theirs = JSON.parse(
        fs.readFileSync(require.resolve(`${from}/package.json`, { paths: [ROOT] }), "utf8"),
      ) as PackageJson;
      expect(Object.keys(theirs.dependencies ?? {})).toContain(name);
    }
  });

  it("type-only imports name a declared package (dependencies or devDependencies)", () => {
    const declared = new Set([...installed, ...Object.keys(pkg.devDependencies ?? {})]);
    const missing = uses.filter((u) => u.typeOnly && !declared.has(u.pkg)).map((u) => `${u.pkg} (${u.where})`);
    expect(missing).toEqual([]);
  });

  it("the superseded nats 2.x package is neither declared nor loaded", () => {
    expect(Object.keys(pkg.dependencies ?? {})).not.toContain("nats");
    expect(uses.filter((u) => u.pkg === "nats").map((u) => u.where)).toEqual([]);
  });
});

describe("packageOf", () => {
  it("names the package of a bare specifier and nothing for paths and builtins", () => {
    expect(packageOf("@nats-io/nats-core")).toBe("@nats-io/nats-core");
    expect(packageOf("@pulumi/pulumi/dynamic")).toBe("@pulumi/pulumi");
    expect(packageOf("js-yaml")).toBe("js-yaml");
    expect(packageOf("semver/functions/gt")).toBe("semver");
    expect(packageOf("./spec")).toBeUndefined();
    expect(packageOf("node:fs")).toBeUndefined();
    expect(packageOf("fs")).toBeUndefined();
  });
});
