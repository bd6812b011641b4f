// Unit tests of the editors in jsdom; no browser.
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/src'],
  testMatch: ['**/*.test.ts', '**/*.test.tsx'],
  setupFilesAfterEnv: ['<rootDir>/jest.setup.js'],
  transform: {
    '^.+\\.(t|j)sx?$|^.+\\.mjs$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', tsx: true },
          transform: { react: { runtime: 'classic' } },
          target: 'es2021',
        },
      },
    ],
  },
  // ESM-only dependencies of @grafana/* are transformed too.
  transformIgnorePatterns: ['node_modules/(?!(ol|d3|d3-.*|internmap|delaunator|robust-predicates|marked|uuid|@grafana/.*|ky|color|@react-hookz/web|@ver0/deep-equal|react-calendar|get-user-locale|memoize|mimic-function|@wojtekmaj/date-utils)/)'],
  moduleNameMapper: {
    '\\.(css|scss|sass)$': 'identity-obj-proxy',
  },
};
