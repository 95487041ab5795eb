#!/usr/bin/env node
// The `sluice-k8s` command (`sluice k8s ...` routes here). No static imports, so on a Node too
// old for @kubernetes/client-node this check runs first and says what to do (exit 2).
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `sluice-k8s: needs Node.js 22.19 or newer (22 or 24 LTS); this is ${process.version} at ${process.execPath}\n`,
  );
  process.exit(2);
}
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
