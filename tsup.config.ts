import { defineConfig } from 'tsup';

// tfjs must stay a single instance shared with the caller.
const external = [/^@tensorflow\//];

export default defineConfig([
  {
    // `natinv` (platform-neutral) and `natinv/node`, which re-exports it: shared code goes into
    // common chunks (splitting, in CommonJS too), so a program importing both holds one natinv.
    entry: { index: 'src/index.ts', node: 'src/node.ts' },
    format: ['cjs', 'esm'],
    splitting: true,
    dts: true,
    sourcemap: true,
    // The CLI build below writes into the same folder at the same time: leave its files alone.
    clean: ['!cli.js', '!cli.js.map'],
    shims: true,
    target: 'es2020',
    external,
  },
  {
    // The `natinv` executable: one CommonJS file, started by node through its shebang.
    entry: { cli: 'src/cli/main.ts' },
    format: ['cjs'],
    sourcemap: true,
    clean: false,
    target: 'es2020',
    platform: 'node',
    external,
  },
]);
