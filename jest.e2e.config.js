/**
 * End-to-end suites: `npm run test:e2e` (builds first). They run the built echo
 * example as a child process and drive it from real peers (Chromium, Python's
 * websockets, node:http and ws), so they run one file at a time.
 */
const base = require('./jest.config');

module.exports = {
  ...base,
  testMatch: ['**/*.e2e.spec.ts'],
  testPathIgnorePatterns: [],
  testTimeout: 60000,
  maxWorkers: 1,
};
