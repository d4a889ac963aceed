// Compiles the sample contracts with the pinned solc (standard JSON, deterministic settings)
// and writes <Name>.abi.json, <Name>.bin (creation code) and <Name>.runtime.bin (deployed code)
// as lowercase hex into the directory given as the first argument.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const outDir = process.argv[2];
const names = ['Asset', 'Evidence'];
const sources = {};
for (const n of names) {
  sources[n + '.sol'] = { content: fs.readFileSync(path.join(outDir, n + '.sol'), 'utf8') };
}
const input = {
  language: 'Solidity',
  sources,
  settings: {
    // FISCO BCOS 2.x executes Constantinople-era EVM code.
    evmVersion: 'constantinople',
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of out.errors || []) {
  process.stderr.write(e.formattedMessage);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);
for (const n of names) {
  const c = out.contracts[n + '.sol'][n];
  fs.writeFileSync(path.join(outDir, n + '.abi.json'), JSON.stringify(c.abi, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, n + '.bin'), c.evm.bytecode.object + '\n');
  fs.writeFileSync(path.join(outDir, n + '.runtime.bin'), c.evm.deployedBytecode.object + '\n');
}
process.stdout.write('compiled ' + names.join(', ') + ' with solc ' + solc.version() + '\n');
