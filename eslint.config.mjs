// SPDX-License-Identifier: GPL-2.0-or-later
// typescript-eslint with a small, strict rule set, run by test/lint/eslint.test.ts.
// Type-aware: the rules about promises read the types, so every TypeScript
// file is checked with the program of its tsconfig (lib, scripts and bench by
// tsconfig.json, the tests by tsconfig.test.json).
import tseslint from 'typescript-eslint';
import processRules from './eslint.process-rules.mjs';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'build/**', 'rpmbuild/**', 'coverage/**', 'demo-store/**', 'test/lint/fixtures/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { project: ['./tsconfig.json', './tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // A promise nobody awaits loses its rejection (a failed write reported as success).
      '@typescript-eslint/no-floating-promises': 'error',
      // An async callback where a plain one is expected (an event handler, forEach) is not awaited either.
      '@typescript-eslint/no-misused-promises': 'error',
      // Type-only imports vanish from the bundles; a value import of a type would load its module at start-up.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // A leading underscore marks what is unused on purpose (a driver method's argument, a skipped iteration value).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'all', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  // lib/ reads the process's environment and streams only in the runner and the launcher
  processRules,
);
