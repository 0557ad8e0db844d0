// @ts-check
import tseslint from 'typescript-eslint';

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
      'no-restricted-imports': ['error', { patterns: [{ group: ['../../../../*'], message: 'import from at most three levels up' }] }],
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
