import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['cjs', 'esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  shims: true,
  target: 'es2020',
  // tfjs must stay a single instance shared with the caller.
  external: [/^@tensorflow\//],
});
