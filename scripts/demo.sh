#!/usr/bin/env bash
# The main job on an embedded default: offline mode, a new store under
# ./demo-store, a template and a few qubes, then the listing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null
npm run -s build

export QUBES_BASE_DIR="$PWD/demo-store" QUBES_XML_PATH="$PWD/demo-store/qubes.xml" QUBES_OFFLINE_MODE=1
if [ ! -f "$QUBES_XML_PATH" ]; then
  ./bin/qubes-create
  ./bin/qvm-create --class TemplateVM --label black fedora-41
  ./bin/qubes-prefs default_template fedora-41
  ./bin/qvm-create --label red --prop provides_network=True --prop netvm=none sys-net
  ./bin/qvm-create --label orange --prop provides_network=True --prop netvm=sys-net sys-firewall
  ./bin/qubes-prefs default_netvm sys-firewall
  ./bin/qvm-create --label blue work
  ./bin/qvm-create --label purple --prop netvm=none vault
  ./bin/qvm-tags work add project-x
  ./bin/qvm-service work cups on
fi
echo "store: $QUBES_XML_PATH"
./bin/qvm-ls
echo
./bin/qvm-ls --tree --fields name,state,netvm,ip
echo
./bin/qvm-pool
echo
./bin/qvm-volume list work
