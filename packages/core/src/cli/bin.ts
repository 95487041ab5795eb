#!/usr/bin/env node
// The `sluice` command. It imports nothing statically, so on a Node too old for Sluice this check
// runs before any module that needs a newer one is linked, and says what to do (exit 2: nothing
// ran). The same bound as node-support.ts, which guards the library.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `sluice: needs Node.js 22.19 or newer (22 or 24 LTS); this is ${process.version} at ${process.execPath}\n`,
  );
  process.exit(2);
}
await import('./main.ts');
