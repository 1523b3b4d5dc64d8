# Host tools from Debian's packages, one rule for every script (sourced, not run): the sample
# build, the arm64 sysroot, the test servers and the test suite's own set-up. A tool that is
# missing is installed with apt-get as root or through sudo (without a password prompt when
# nothing can answer it), once; where that is impossible the caller decides whether that is fatal
# (a build) or a skip (a test). The caller defines log() and die().
#
# Downloaded files (.debs) are kept in the user's cache, outside any checkout, so a new clone
# reuses them: ${VMSFX_DOWNLOAD_CACHE:-${XDG_CACHE_HOME:-~/.cache}/vmsfx}.
#
# VMSFX_NO_INSTALL=1 never installs anything (what a machine without root or sudo sees).

download_cache() {
	if [[ -n ${VMSFX_DOWNLOAD_CACHE:-} ]]; then printf '%s\n' "$VMSFX_DOWNLOAD_CACHE"
	elif [[ -n ${XDG_CACHE_HOME:-} ]]; then printf '%s\n' "$XDG_CACHE_HOME/vmsfx"
	elif [[ -n ${HOME:-} ]]; then printf '%s\n' "$HOME/.cache/vmsfx"
	else printf '%s\n' "${REPO_ROOT:-.}/.cache/downloads"; fi
}

# 0 when this process may run apt-get install: root, or sudo that asks for no password.
can_install() {
	[[ ${VMSFX_NO_INSTALL:-} != 1 ]] || return 1
	command -v apt-get >/dev/null || return 1
	[[ $EUID -eq 0 ]] && return 0
	command -v sudo >/dev/null && sudo -n true 2>/dev/null
}

as_root() {
	if [[ $EUID -eq 0 ]]; then "$@"
	elif [[ -t 0 ]]; then sudo "$@"
	else sudo -n "$@"; fi
}

apt_updated=0
apt_update_once() {
	((apt_updated)) && return 0
	log "running apt-get update"
	# A mirror mid-sync fails one index now and then; the ones we need may still be fine, and
	# the install or download says clearly if they are not.
	as_root apt-get update -qq >&2 || log "apt-get update reported errors; going on with the lists it has"
	apt_updated=1
}

# install_packages <package>... — installs them without starting any service they bring (nginx
# would otherwise start Debian's own server on port 80). Retries once after apt-get update.
install_packages() {
	local policy=/usr/sbin/policy-rc.d made_policy=0 ok=0
	if [[ ! -e $policy ]]; then
		as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy" && made_policy=1
	fi
	log "installing from Debian's packages: $*"
	if DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2 2>/dev/null; then
		ok=1
	else
		apt_update_once
		DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2 && ok=1
	fi
	((made_policy)) && as_root rm -f "$policy"
	((ok))
}

# find_tool <tool> — its path, looking in sbin folders too (not on a user's PATH).
find_tool() {
	local p
	for p in "$(command -v "$1" 2>/dev/null || true)" "/usr/sbin/$1" "/usr/bin/$1" "/sbin/$1"; do
		if [[ -n $p && -x $p ]]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

# ensure_tool <tool> <package> [<alternative package>...] — installs the first package that
# installs when the tool is missing; dies when it cannot be had.
ensure_tool() {
	local tool=$1 pkg
	shift
	find_tool "$tool" >/dev/null && return 0
	can_install || die "'$tool' is missing; install it with: sudo apt-get install $1"
	for pkg in "$@"; do
		install_packages "$pkg" && find_tool "$tool" >/dev/null && return 0
	done
	die "could not install $* (for $tool); see the messages above"
}
