/** Unit, marble and real-socket tests: `npm test`. End-to-end suites (*.e2e.spec.ts) run with `npm run test:e2e`, attack suites (*.attack.spec.ts) with `npm run test:attack`. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  testMatch: ['**/*.spec.ts'],
  testPathIgnorePatterns: ['\\.e2e\\.spec\\.ts$', '\\.attack\\.spec\\.ts$'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  moduleNameMapper: { '^rxjs-ws$': '<rootDir>/src/index.ts', '^rxjs-ws/testing$': '<rootDir>/src/testing/index.ts', '^rxjs-ws/prometheus$': '<rootDir>/src/prometheus/index.ts' },
  setupFilesAfterEnv: ['<rootDir>/spec/support/cleanup.ts'],
  testTimeout: 20000,
};
