#!/bin/sh
# `npm test`: the test peers, a throwaway PostgreSQL server (unless RELAIS_TEST_PG names one where databases may be
# created), the type check, then every test file. The throwaway server is stopped and removed whatever happens.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-test-peers.sh

if [ -z "${RELAIS_TEST_PG:-}" ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  pgtmp=$(mktemp -d /tmp/relais-test-pg-XXXXXX)
  # PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user the package created.
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$pgtmp"
    as_pg() { runuser -u postgres -- "$@"; }
  else
    as_pg() { "$@"; }
  fi
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  as_pg "$pgbin/initdb" -D "$pgtmp/data" -U postgres --auth=trust -E UTF8 >"$pgtmp/initdb.log" 2>&1 || { cat "$pgtmp/initdb.log" >&2; exit 1; }
  as_pg "$pgbin/pg_ctl" -D "$pgtmp/data" -l "$pgtmp/server.log" -w \
    -o "-p $port -k $pgtmp -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
  trap 'as_pg "$pgbin/pg_ctl" -D "$pgtmp/data" -m immediate stop >/dev/null 2>&1; rm -rf "$pgtmp"' EXIT
  trap 'exit 130' INT TERM
  RELAIS_TEST_PG="postgres://postgres@127.0.0.1:$port/postgres"
  export RELAIS_TEST_PG
fi

npm run typecheck
# Tests run the relais command hundreds of times: built, it starts in a third of the time tsx needs.
npm run --silent build
RELAIS_TEST_CLI=dist
export RELAIS_TEST_CLI
# Node 20 neither expands quoted globs nor finds .ts files by itself: list them (or run the files given).
if [ "$#" -gt 0 ]; then files="$*"; else files=$(find test -name '*.test.ts' | sort); fi
# --test-force-exit: a test that fails with a server still open must fail its file, not hang the whole run.
node --import tsx --test --test-force-exit --test-concurrency="${RELAIS_TEST_CONCURRENCY:-4}" $files
