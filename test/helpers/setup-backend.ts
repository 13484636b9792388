import { useBackend } from '../../src/runtime/backend';

// One backend for the whole test run, picked by NATINV_BACKEND (default cpu).
beforeAll(async () => {
  await useBackend();
});
