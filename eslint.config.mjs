// ESLint with typescript-eslint's type-aware rules (recommendedTypeChecked) over the sources,
// tests, benches and examples. Formatting is Prettier's job (npm run format:check), not ESLint's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build-tsc/', 'coverage/', 'docs/', 'node_modules/', '.venv/', 'natinv-out/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['tsup.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // `_`-prefixed names mark deliberately unused bindings (a key destructured away, callback arity).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Error messages print shapes (arrays join as `1, 2, 3`) and exhaustive-switch leftovers (never).
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowNullish: true, allowArray: true, allowNever: true },
      ],
      // Reading tfjs-layers' untyped internals (graph nodes, layer configs) and parsed JSON metadata
      // is deliberate and checked at run time; typing those reads is follow-up work.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // tfjs ops return Tensor<Rank>; `tf.tidy(() => ...) as tf.Tensor4D` is this codebase's idiom
      // for the rank it knows (assertions that change nothing at all were removed).
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Hooks implement async interfaces (onStep, trainStudent) without always awaiting.
      '@typescript-eslint/require-await': 'off',
      // Rethrown errors keep their message text; attaching `cause` everywhere is follow-up work.
      'preserve-caught-error': 'off',
    },
  },
  {
    // Tests and benches load optional backends and child-process helpers lazily with require().
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
