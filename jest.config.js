/** Jest runs TypeScript through ts-jest; real servers are started once in globalSetup. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
    // @kubernetes/client-node 1.x is ESM-only; jest's CommonJS runtime needs it transformed.
    '^.+\\.m?js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', isolatedModules: true } }],
  },
  // The worker loads client-node from its built bundle (src/k8s/client-node.ts); tests from the package.
  moduleNameMapper: { '^\\.\\./\\.\\./vendor/client-node$': '@kubernetes/client-node' },
  transformIgnorePatterns: ['/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose)/)'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 180_000,
  maxWorkers: 2,
  reporters: ['default'],
  // The Temporal native runtime (a Rust thread behind N-API) can outlive the last connection by a moment.
  forceExit: true,
};
