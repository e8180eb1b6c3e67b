#!/usr/bin/env bash
# The one command that runs every test: installs what the tests need (Debian
# packages when root and missing, npm dependencies), builds, runs jest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# Commands the tests run (a tmpfs for the full-disk test, bash for completion,
# GNU cp for sparse copies, loop-mounted btrfs/XFS/ext4 for the storage
# drivers, loop devices with partitions for the block devices test; scrypt,
# tar, gzip and xz for the backup emergency-procedure tests): Debian
# package for each.
for pair in "mount:mount" "umount:mount" "losetup:mount" "partx:util-linux" "df:coreutils" "cp:coreutils" "sed:sed" "bash:bash" \
  "mkfs.btrfs:btrfs-progs" "mkfs.xfs:xfsprogs" "mkfs.ext4:e2fsprogs" \
  "scrypt:scrypt" "tar:tar" "gzip:gzip" "xz:xz-utils"; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing commands (run as root to install): ${need[*]}" >&2
  fi
fi

[ -d node_modules ] || npm ci --no-audit --no-fund
npm run -s build
# ts-jest compiles each test file alone (no type check); check the whole test tree here.
npx tsc -p tsconfig.test.json
results=$(mktemp)
status=0
NODE_OPTIONS="--experimental-vm-modules ${NODE_OPTIONS:-}" npx jest --ci --json --outputFile="$results" "$@" || status=$?
# One plain closing line that CI reads ("Tests: N passed, N failed, N skipped").
[ -s "$results" ] && node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' "$results" || true
rm -f "$results"
exit "$status"
