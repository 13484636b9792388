/** The browser suite (npm run test:browser): real Chromium, driven from Node; cpu backend on the Node side. */
module.exports = {
  ...require('./jest.config.js'),
  roots: ['<rootDir>/test/browser'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  testTimeout: 600000,
};
