/** Test tiers are chosen by file name: *.spec.ts (unit), *.int-spec.ts (real database), *.e2e-spec.ts (real server). */
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022', keepClassNames: true }, module: { type: 'commonjs' } }];
const common = {
  transform: { '^.+\\.ts$': swc },
  moduleFileExtensions: ['ts', 'js', 'json'],
  rootDir: __dirname,
  // Prints a failed test's service logs; records skipped tests with their reasons (test/support/environment.ts).
  testEnvironment: '<rootDir>/test/support/environment.ts',
  // A temp folder per run, checked and removed at the end (test/support/global-run.ts).
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
module.exports = {
  // Hooks start real servers and databases; on a loaded 2-core machine 5 s is not enough for that.
  testTimeout: 30_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/**/*.spec.ts'], globalSetup: '<rootDir>/test/support/global-run.ts' },
    { ...common, displayName: 'int', testMatch: ['<rootDir>/test/**/*.int-spec.ts'], globalSetup: '<rootDir>/test/support/global-setup.ts', slowTestThreshold: 30 },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'], globalSetup: '<rootDir>/test/support/global-setup.ts', slowTestThreshold: 30 },
  ],
};
