// SPDX-License-Identifier: GPL-2.0-or-later
// The library never reads the process's environment, standard streams,
// arguments or working directory: it gets them from the command's Session
// (lib/ops/session.ts), which the runner builds from what it is given, so
// a command can run in memory and a daemon can serve requests with other
// settings in one process. Only the runner and the launcher read them.
//
// An ESLint flat-config entry for eslint.config.mjs (`import processRules
// from './eslint.process-rules.mjs'` and list it); test/lint/process-globals.test.ts
// checks the same rule with the TypeScript compiler, from the lists below.

/** What the library must not read of `process`. */
export const PROCESS_GLOBALS = ['env', 'stdout', 'stderr', 'stdin', 'argv', 'cwd'];

/** The files that may: the runner of the commands and the launcher of their bundles. */
export const PROCESS_GLOBALS_ALLOWED = ['lib/tools/common/program.ts', 'lib/launcher.ts'];

const message = 'the library takes this from the Session (lib/ops/session.ts), which the runner builds; see eslint.process-rules.mjs';

export default {
  files: ['lib/**/*.ts'],
  ignores: PROCESS_GLOBALS_ALLOWED,
  rules: {
    // process.env, process.stdout, ..., also destructured (`const { env } = process`)
    'no-restricted-properties': ['error', ...PROCESS_GLOBALS.map((property) => ({ object: 'process', property, message }))],
    // the same through the module: `import { env } from 'node:process'`
    'no-restricted-imports': [
      'error',
      { paths: ['node:process', 'process'].map((name) => ({ name, importNames: PROCESS_GLOBALS, message })) },
    ],
  },
};
