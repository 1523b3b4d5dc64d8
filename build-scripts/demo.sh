#!/usr/bin/env bash
# The main job on the built-in sample: build vmsfx, build the shell sample with `vmsfx build`
# (the guest base from Debian's i386 packages, the sample's files, a boot, a trial run, the
# capture), pack it into one file, and run it on this terminal. Reruns reuse every cached step.
set -euo pipefail
cd "$(dirname "$0")/.."
work=.cache/demo
mkdir -p "$work"
npm run --silent build
# Build again only when something that shapes the snapshot changed.
stamp=$(find dist/vmsfx.cjs dist/engine-worker.cjs dist/v86.wasm build-scripts/guest-base.sh build-scripts/lib/guest-debs.sh build-scripts/guest-base samples/shell -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
if [ ! -f "$work/shell.vmsfx" ] || [ "$(cat "$work/stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$work/snap" "$work/shell.vmsfx" "$work/shell.vmsfx-state"
	node bin/vmsfx build samples/shell/app.json -o "$work/snap"
	node bin/vmsfx pack "$work/snap" -o "$work/shell.vmsfx"
	echo "$stamp" >"$work/stamp"
fi
node bin/vmsfx inspect "$work/shell.vmsfx"
echo
if [ -t 0 ]; then
	echo "Running $work/shell.vmsfx — try: cat hello.txt   (exit quits and keeps /mnt; Ctrl-] then q suspends)"
fi
exec node bin/vmsfx run "$work/shell.vmsfx"
