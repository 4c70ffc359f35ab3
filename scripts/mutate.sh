#!/bin/sh
# mutate.sh runs reach's mutation tests: it plants each named bug of
# internal/mutate/mutants/*.mut in turn and checks that the short tests of
# its package fail (see internal/mutate's doc). On demand, not in every CI
# run: a full run (149 mutants) took about 20 minutes on 2 shared cores, one
# mutant at a time (server about 9, tuples 4, engine 3.5, schema 1).
#
# Usage: scripts/mutate.sh [flags] [package ...]
#
#   package   engine, schema, tuples, server, internal/corpus ... (default:
#             every package that has mutants)
#   flags     passed to the runner: -run REGEXP (mutants by name),
#             -tests REGEXP (only these tests, go test -run), -list,
#             -check (only that every mutant still applies), -v (print the
#             failure that killed each), -timeout D (per mutant, default 3m),
#             -log DIR (keep each run's output)
#
# Examples:
#   scripts/mutate.sh schema
#   scripts/mutate.sh -v -run 'reverse' tuples
#   scripts/mutate.sh -check
#
# Exit status 0 when every mutant was killed or is explained as equivalent.
set -eu
cd "$(dirname "$0")/.."
exec go run ./internal/mutate "$@"
