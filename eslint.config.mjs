// @ts-check
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'data/', 'release/', 'test/fixtures/'] },
  eslint.configs.recommended,
  tseslint.configs.strictTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    rules: {
      // The code declares object shapes with `type` (233 of them, against 12 interfaces), and a
      // type alias cannot be merged into by accident; stylistic's default asks for `interface`.
      '@typescript-eslint/consistent-type-definitions': ['error', 'type'],
      // Numbers in messages, paths and log lines (`generation ${n}`) are the point of most of our
      // template literals and always print the same way; strict's other bans stay (undefined,
      // null, objects, any), since those print as "undefined" or "[object Object]".
      // (Naming one option resets the others to the rule's lax defaults, hence the full list.)
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowAny: false, allowBoolean: false, allowNullish: false, allowRegExp: false, allowNever: false, allowArray: false },
      ],
      // A variable a closure reads before its one assignment (serve's stop handler, installed
      // before the service it stops exists) cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // An underscore names what is dropped on purpose: a property left out by destructuring
      // (`const { key: _key, ...rest }`), express's fourth error-handler argument.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
      // `(e) => reject(e)`: a one-line callback calling a void function is how the code writes
      // callbacks; `return fail(err)` inside a function that itself returns void is how it exits
      // early. A void value used as a value anywhere else is still an error.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true }],
      // It asks for `x!` over `x as T`; strict's no-non-null-assertion (and the house rules) ask
      // for neither. The two contradict each other; the strict rule wins.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
      // node:test tracks every test() and describe() it is handed and awaits them itself (the
      // runner, not the caller, reports a failure); awaiting them at the top of a test file adds
      // nothing. Every other promise must still be awaited or handled.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] }],
    },
  },
  // Tests read what the code under test answered (JSON bodies, parsed YAML, TAP) and assert on
  // it: an answer of the wrong shape fails the assertion that reads it, which is the check these
  // rules ask for, and typing every body first would restate each assertion as a schema. A `!`
  // in a test follows an assertion (or a fixture) that established the value. Product code,
  // bench/, scripts/ and testing/ (harnesses the benchmarks share) keep every rule.
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  // This file is not part of tsconfig.json's program.
  { files: ['**/*.mjs'], extends: [tseslint.configs.disableTypeChecked] },
  // Last, so Prettier alone decides layout.
  prettier,
);
