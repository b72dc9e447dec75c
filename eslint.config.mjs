// ESLint (typescript-eslint, recommended rules) for the TypeScript sources; Prettier owns the layout
// (`npm run format:check`, lines <= 120). Both run in `npm run lint`, which .ci/run calls before the tests.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".state/", "tools/", "**/*.js", "**/*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_name` marks a deliberately unused binding (destructuring that drops a field, an ignored parameter).
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      // The provider and the platform registry load compiled engine code at run time on purpose (see their headers).
      "@typescript-eslint/no-require-imports": "off",
      // Tests match indented config text; two spaces in a regex read better than {2}.
      "no-regex-spaces": "off",
      "max-len": ["error", { code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true }],
    },
  },
);
