#!/usr/bin/env bash
# Provides the system tools the test suite (and the benchmark) use, from Debian's packages, the
# same way the sample build provides its own (lib/host-tools.sh: apt-get as root or through
# sudo, once; nothing when they are there already).
#
#   bash build-scripts/host-tools.sh [tool...]     (default: the test suite's tools)
#
# Tools: nginx, chromium, qemu-aarch64, arm64-sysroot (a linux-arm64 userland for qemu-user,
# build-scripts/arm64-sysroot.sh), umoci and skopeo (real OCI tools that make the tests' images),
# mmdebstrap (with arch-test: an app's file system from Debian i386 packages),
# qemu-system-i386 (the benchmark's peer), docker-registry (the CNCF distribution registry, for
# the registry tests) and openssl (the certificate its token auth trusts).
# Prints one JSON object on stdout: for each tool, its path, or null with the command that
# would install it. Progress goes to stderr. Exits 0 even when a tool cannot be had: the caller
# decides (the tests skip what needs it and say so in one line).
set -euo pipefail

log() { printf 'host-tools: %s\n' "$*" >&2; }
die() { printf 'host-tools: error: %s\n' "$*" >&2; exit 1; }

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
# shellcheck source=lib/host-tools.sh
source "$REPO_ROOT/build-scripts/lib/host-tools.sh"

TOOLS=("$@")
((${#TOOLS[@]})) || TOOLS=(nginx chromium qemu-aarch64 arm64-sysroot umoci skopeo mmdebstrap docker-registry openssl)

# The Debian packages that bring each tool, first choice first.
packages_of() {
	case "$1" in
		nginx) echo "nginx-light nginx" ;;
		chromium) echo "chromium" ;;
		qemu-aarch64 | arm64-sysroot) echo "qemu-user" ;;
		qemu-system-i386) echo "qemu-system-x86" ;;
		umoci) echo "umoci" ;;
		skopeo) echo "skopeo" ;;
		mmdebstrap) echo "mmdebstrap" ;;
		docker-registry) echo "docker-registry" ;;
		openssl) echo "openssl" ;;
		*) die "unknown tool '$1' (known: nginx chromium qemu-aarch64 arm64-sysroot umoci skopeo mmdebstrap docker-registry openssl qemu-system-i386)" ;;
	esac
}

path_of() {
	if [[ $1 == arm64-sysroot ]]; then
		find_tool qemu-aarch64 >/dev/null || return 1
		bash "$REPO_ROOT/build-scripts/arm64-sysroot.sh" 2>/dev/null
	elif [[ $1 == mmdebstrap ]]; then
		find_tool arch-test >/dev/null && find_tool mmdebstrap
	else
		find_tool "$1"
	fi
}

# One apt-get run for everything missing (each run costs seconds); alternatives one by one after.
missing=()
for t in "${TOOLS[@]}"; do
	[[ $t == arm64-sysroot ]] && continue
	path_of "$t" >/dev/null || missing+=("$t")
done
if ((${#missing[@]})) && can_install; then
	first=()
	for t in "${missing[@]}"; do
		read -r -a pkgs <<<"$(packages_of "$t")"
		first+=("${pkgs[0]}")
		# mmdebstrap needs arch-test to build for a foreign architecture.
		[[ $t == mmdebstrap ]] && first+=(arch-test)
	done
	if ! install_packages "${first[@]}"; then
		for t in "${missing[@]}"; do
			read -r -a pkgs <<<"$(packages_of "$t")"
			[[ $t == mmdebstrap ]] && pkgs=("mmdebstrap arch-test")
			# shellcheck disable=SC2086 # "mmdebstrap arch-test" is two packages installed together
			for p in "${pkgs[@]}"; do install_packages $p && break; done || true
		done
	fi
fi

# The arm64 sysroot is unpacked from arm64 .debs (it needs the arm64 architecture in dpkg once).
json="{"
sep=""
for t in "${TOOLS[@]}"; do
	read -r -a pkgs <<<"$(packages_of "$t")"
	if [[ $t == arm64-sysroot ]] && can_install; then
		p=$(bash "$REPO_ROOT/build-scripts/arm64-sysroot.sh") || p=""
	else
		p=$(path_of "$t") || p=""
	fi
	if [[ -n $p ]]; then
		p=${p//\\/\\\\}
		p=${p//\"/\\\"}
		json+="$sep\"$t\":{\"path\":\"$p\"}"
	else
		how="sudo apt-get install ${pkgs[0]}"
		[[ $t == arm64-sysroot ]] && how="$how, then: sudo bash build-scripts/arm64-sysroot.sh"
		[[ $t == mmdebstrap ]] && how="$how arch-test"
		json+="$sep\"$t\":{\"path\":null,\"install\":\"$how\"}"
	fi
	sep=","
done
printf '%s}\n' "$json"
