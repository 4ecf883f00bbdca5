/**
 * Attack suites: `npm run test:attack` (builds first). Each scenario starts the
 * built echo (or chat) example in its own process with its default options,
 * attacks it with raw TCP clients and measures it from outside (RSS and CPU
 * from /proc, a well-behaved client's latency), so they run one file at a time.
 */
const base = require('./jest.config');

module.exports = {
  ...base,
  testMatch: ['**/*.attack.spec.ts'],
  testPathIgnorePatterns: [],
  testTimeout: 60000,
  maxWorkers: 1,
};
