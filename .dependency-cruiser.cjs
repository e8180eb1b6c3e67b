// The layers of lib/ as a check (README "Layout"; run by test/lint/layers.test.ts).
// Each row may import from its own folder and from the rows below it, never
// from a row above. Rows list folders under lib/ (or top-level files).
// Type-only imports may point upward (they vanish at build time); a value a
// lower layer needs from a higher one comes through an interface it declares.
const LAYERS = [
  ['tools', 'launcher.ts'],
  // qubesd and its method table; the commands qubesd and qubesd-query run it and speak its wire format
  ['daemon'],
  ['ops'],
  ['backup', 'listing'],
  ['devices'],
  ['vmm'],
  ['storage', 'firewall', 'host'],
  ['app'],
  ['vm'],
  ['util'],
  ['errors.ts', 'config.ts', 'version.ts'],
];

const pathOf = (names) => `^lib/(${names.map((n) => n.replace('.', '[.]')).join('|')})(/|$)`;

const layerRules = LAYERS.slice(1).map((row, i) => {
  const above = LAYERS.slice(0, i + 1).flat();
  return {
    name: `layer-${row.join('-').replace(/[.]ts/g, '')}`,
    comment: `${row.join(', ')} may not import from a layer above it (${above.join(', ')})`,
    severity: 'error',
    from: { path: pathOf(row) },
    to: { path: pathOf(above), dependencyTypesNot: ['type-only'] },
  };
});

// Folders in one row do not import each other (so that no row hides an order).
const siblingRules = LAYERS.filter((row) => row.length > 1).flatMap((row) =>
  row.map((name) => ({
    name: `sibling-${name.replace(/[.]ts$/, '')}`,
    comment: `${name} may not import from ${row.filter((n) => n !== name).join(', ')}, beside it`,
    severity: 'error',
    from: { path: pathOf([name]) },
    to: { path: pathOf(row.filter((n) => n !== name)), dependencyTypesNot: ['type-only'] },
  })),
);

module.exports = {
  forbidden: [
    ...layerRules,
    ...siblingRules,
    {
      name: 'no-circular-across-folders',
      comment: 'no import circle through two folders of lib/, not even through type-only imports',
      severity: 'error',
      from: { path: '^lib/([^/]+)/' },
      to: { circular: true, via: { pathNot: '^lib/$1/' } },
    },
    {
      name: 'no-circular-values',
      comment: 'no import circle made of imports of values (a type-only import inside one folder may close one)',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'lib-only',
      comment: 'lib/ imports nothing from tests, scripts or built output',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(test|scripts|bench|dist)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    exclude: { path: '^(node_modules|dist)/' },
  },
};
