#!/usr/bin/env bash
# The main job on the built-in sample: build vmsfx and the sample guest, capture it at its shell
# prompt, pack it into one file, and resume it on this terminal. Reruns reuse every cached step.
set -euo pipefail
cd "$(dirname "$0")/.."
work=.cache/demo
mkdir -p "$work"
npm run --silent build
bash build-scripts/build-sample.sh shell
# Capture again only when something that shapes the snapshot changed.
stamp=$(cat dist/vmsfx.cjs dist/engine-worker.cjs dist/v86.wasm samples/shell/vm.json .cache/samples/shell/* | sha256sum | cut -c1-16)
if [ ! -f "$work/shell.vmsfx" ] || [ "$(cat "$work/stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$work/snap" "$work/shell.vmsfx" "$work/shell.vmsfx-state"
	node bin/vmsfx capture samples/shell/vm.json -o "$work/snap"
	node bin/vmsfx pack "$work/snap" -o "$work/shell.vmsfx"
	echo "$stamp" >"$work/stamp"
fi
node bin/vmsfx inspect "$work/shell.vmsfx"
echo
if [ -t 0 ]; then
	echo "Resuming $work/shell.vmsfx — try: cat hello.txt   (poweroff, or Ctrl-] then q, to leave)"
	exec node bin/vmsfx run "$work/shell.vmsfx"
else
	exec node bin/vmsfx run "$work/shell.vmsfx"
fi
