#!/usr/bin/env bash
# A linux-arm64 userland for running vmsfx's linux-arm64 executables on an x86-64 Debian host
# under qemu-user (the Targets test does this):
#
#   sysroot=$(bash build-scripts/arm64-sysroot.sh)
#   qemu-aarch64 -L "$sysroot" ./app
#
# Installs qemu-user (which has qemu-aarch64) if it is missing, adds arm64 as a dpkg foreign
# architecture, downloads the three libraries an official Node binary links against (libc6,
# libgcc-s1, libstdc++6 for arm64) into ~/.cache/vmsfx/debs-arm64/ (shared by every checkout) and unpacks them with dpkg-deb -x into
# .cache/arm64-sysroot/. Nothing for arm64 is installed on the host. Once the sysroot is there
# this script touches neither apt nor the network: a second run downloads nothing.
# Prints the sysroot's absolute path on stdout; progress goes to stderr.
set -euo pipefail

log() { printf 'arm64-sysroot: %s\n' "$*" >&2; }
die() { printf 'arm64-sysroot: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=lib/apt-debs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt-debs.sh"

REPO_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$REPO_ROOT"
DEB_DIR=$(download_cache)/debs-arm64
SYSROOT=.cache/arm64-sysroot
PACKAGES=(libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64)
STAMP=$SYSROOT/.packages


mkdir -p .cache
# Two test runs at once would race on the final rename; serialise them.
if command -v flock >/dev/null; then
	exec 9>".cache/.arm64-sysroot.lock"
	flock 9
fi

ensure_tool qemu-aarch64 qemu-user

# Up to date when every cached .deb is the one the sysroot was unpacked from.
debs() { compgen -G "$DEB_DIR/*_arm64.deb" | LC_ALL=C sort || true; }
if [[ -f $STAMP && -f $SYSROOT/lib/ld-linux-aarch64.so.1 && $(<"$STAMP") == "$(debs | xargs -r -n1 basename)" && -n $(debs) ]]; then
	printf '%s\n' "$REPO_ROOT/$SYSROOT"
	exit 0
fi

count=$(debs | wc -l)
if ((count < ${#PACKAGES[@]})); then
	command -v apt-get >/dev/null || die "apt-get not found: place the arm64 .debs of ${PACKAGES[*]} in $DEB_DIR/ beforehand"
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		log "enabling the arm64 architecture in dpkg (dpkg --add-architecture arm64)"
		as_root dpkg --add-architecture arm64
		apt_update_once
	fi
	apt-cache show libc6:arm64 >/dev/null 2>&1 || apt_update_once
	rm -f "$DEB_DIR"/*_arm64.deb
	download_debs "$DEB_DIR" "${PACKAGES[@]}"
fi

log "unpacking $(debs | wc -l) packages into $SYSROOT"
work=$(mktemp -d .cache/.arm64-sysroot.XXXXXX)
while read -r deb; do dpkg-deb -x "$deb" "$work"; done < <(debs)
[[ -e $work/lib/ld-linux-aarch64.so.1 ]] || { rm -rf "$work"; die "the unpacked packages have no lib/ld-linux-aarch64.so.1"; }
debs | xargs -r -n1 basename >"$work/.packages"
rm -rf "$SYSROOT"
mv "$work" "$SYSROOT"
printf '%s\n' "$REPO_ROOT/$SYSROOT"
