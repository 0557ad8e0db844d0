// @ts-check
import tseslint from 'typescript-eslint';

/**
 * Import boundaries between the bounded contexts (docs/architecture.md): platform code depends on
 * no context; the control plane on the platform; the data plane on both; alerting and governance on
 * those; ops (checks, gates, CLIs) on everything; the console's server side on the platform only.
 * A context reaches a higher one only through the events and read models, never by import.
 */
const SHALLOW = { group: ['../../../../*'], message: 'import from at most three levels up' };
const boundary = (files, forbidden, why) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: [SHALLOW, ...forbidden.map((c) => ({ group: [`**/${c}/*`, `**/${c}`], message: `${why} (import boundaries: eslint.config.mjs)` }))] }],
  },
});
const CONTEXTS = ['control-plane', 'data-plane', 'alerting', 'governance', 'ops', 'console'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', 'test/support/swc-register.cjs', 'scripts/*.mjs', 'eslint.config.mjs', 'jest.config.js'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      curly: ['error', 'multi-line'],
      // Relative imports stay shallow: at most three levels up (src/<context>/<module>/file -> projections/).
      'no-restricted-imports': ['error', { patterns: [SHALLOW] }],
      // Every event enters the log through the one command path: envelope metadata comes from
      // eventMetadata(ctx, commandId) (src/platform/event-store/command-context.ts), never from an
      // object literal with its own occurred_at (which drifts: no command id, its own clock).
      // Reading occurred_at (destructuring, member access, type declarations) is not affected.
      'no-restricted-syntax': [
        'error',
        {
          selector: "ObjectExpression > Property[key.name='occurred_at'], ObjectExpression > Property[key.value='occurred_at']",
          message: 'build event metadata with eventMetadata(ctx, commandId) from src/platform/event-store/command-context.ts (systemCommandContext / requestCommandContext for contexts), not by hand',
        },
      ],
    },
  },
  {
    // Exempt from the occurred_at rule (turns off every no-restricted-syntax selector for these files):
    // - command-context.ts: the one place that builds envelope metadata (eventMetadata);
    // - the audit read model and its API view: rows and responses with an occurred_at column,
    //   copied from events' metadata, not event metadata themselves.
    files: ['src/platform/event-store/command-context.ts', 'projections/audit.projection.ts', 'src/control-plane/audit/audit.controller.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  boundary(['src/platform/**/*.ts'], CONTEXTS, 'platform code depends on no bounded context'),
  boundary(['src/control-plane/**/*.ts'], ['data-plane', 'alerting', 'governance', 'ops', 'console'], 'the control plane depends on the platform only'),
  boundary(['src/data-plane/**/*.ts'], ['alerting', 'governance', 'ops', 'console'], 'the data plane depends on the control plane and the platform only'),
  boundary(['src/alerting/**/*.ts'], ['ops', 'console'], 'alerting does not depend on ops tooling or the console'),
  boundary(['src/governance/**/*.ts'], ['alerting', 'console', 'ops/cli'], 'governance does not depend on alerting, the console or the CLIs'),
  boundary(['src/ops/checks/**/*.ts', 'src/ops/preflight/**/*.ts', 'src/ops/audit/**/*.ts', 'src/ops/perf/**/*.ts'], ['cli', 'console'], 'checks and gates do not depend on the CLIs'),
  boundary(['src/console/**/*.ts'], CONTEXTS.filter((c) => c !== 'console'), "the console's server side depends on the platform only (its pages use the admin API)"),
  boundary(['projections/**/*.ts'], ['ops', 'console', 'governance'], 'projection definitions depend on the platform, the contexts\' domain types and nothing above'),
  {
    // The benchmarks append raw envelopes on purpose: they measure the event store itself against
    // raw SQL and Emmett, and a command id (an es_commands row per append) would change what is measured.
    files: ['bench/**/*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Tests build raw envelopes on purpose (event-store contract fixtures, projection inputs, seeded events): exempt from the occurred_at rule.
      'no-restricted-syntax': 'off',
    },
  },
);
