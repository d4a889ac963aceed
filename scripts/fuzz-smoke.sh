#!/usr/bin/env bash
# Runs every Fuzz target of the given package patterns for $FUZZ_TIME each (default 4s), so
# decoders of outside input are fuzzed on every `make test` within a fixed, small budget.
set -euo pipefail
budget=${FUZZ_TIME:-4s}
count=0
for pkg in $(go list "$@"); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  for t in $targets; do
    echo "fuzz $pkg $t ($budget)"
    go test -run '^$' -fuzz "^${t}\$" -fuzztime "$budget" "$pkg" >/tmp/fuzz-$$.log 2>&1 || { cat /tmp/fuzz-$$.log; rm -f /tmp/fuzz-$$.log; exit 1; }
    count=$((count + 1))
  done
done
rm -f /tmp/fuzz-$$.log
echo "fuzz: $count targets ran for $budget each without a failure"
