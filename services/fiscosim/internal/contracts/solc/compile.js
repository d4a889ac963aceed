// Compiles the sample contracts with the pinned solc (standard JSON, deterministic settings)
// and writes <Name>.abi.json, <Name>.bin (creation code) and <Name>.runtime.bin (deployed code)
// as lowercase hex into the directory given as the first argument.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const outDir = process.argv[2];

// Each unit is compiled on its own. Ledger and Registry use runs: 1 because with more runs
// solc splits a dispatcher of 7+ functions into a binary search on selector values, which the
// SM rewrite (new selectors, old order) would break; Asset and Evidence keep runs: 200 so their
// code, and every chain built from it, stays byte for byte what it was.
const units = [
  { names: ['Asset', 'Evidence'], runs: 200 },
  { names: ['Ledger', 'Registry'], runs: 1 },
];

let failed = false;
const done = [];
for (const unit of units) {
  const sources = {};
  for (const n of unit.names) {
    sources[n + '.sol'] = { content: fs.readFileSync(path.join(outDir, n + '.sol'), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      // FISCO BCOS 2.x executes Constantinople-era EVM code.
      evmVersion: 'constantinople',
      optimizer: { enabled: true, runs: unit.runs },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  for (const e of out.errors || []) {
    if (e.severity === 'error') {
      process.stderr.write(e.formattedMessage);
      failed = true;
    } else if (!/Experimental features/.test(e.message)) {
      process.stderr.write(e.formattedMessage);
    }
  }
  if (failed) process.exit(1);
  for (const n of unit.names) {
    const c = out.contracts[n + '.sol'][n];
    fs.writeFileSync(path.join(outDir, n + '.abi.json'), JSON.stringify(c.abi, null, 2) + '\n');
    fs.writeFileSync(path.join(outDir, n + '.bin'), c.evm.bytecode.object + '\n');
    fs.writeFileSync(path.join(outDir, n + '.runtime.bin'), c.evm.deployedBytecode.object + '\n');
    done.push(n);
  }
}
process.stdout.write('compiled ' + done.join(', ') + ' with solc ' + solc.version() + '\n');
