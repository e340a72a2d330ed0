// Two projects: `unit` runs anywhere without privileges; `kernel` needs root and
// network namespaces (it creates its own and removes them). `make test` runs both.
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};
module.exports = {
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/', '\\.kernel\\.test\\.ts$'],
    },
    {
      ...base,
      displayName: 'kernel',
      testMatch: ['<rootDir>/**/*.kernel.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '/dist/'],
    },
  ],
};
