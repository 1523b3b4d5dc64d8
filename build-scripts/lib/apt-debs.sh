# Shared by the build scripts that fetch Debian packages without installing them (sourced, not
# run). The caller defines log() and die(). Downloads land in a scratch folder and are moved into
# the cache only when complete, so an interrupted download never leaves a partial .deb under a
# real name.

# shellcheck source=host-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/host-tools.sh"

# download_debs <cache-dir> <package>...
download_debs() {
	local dir=$1
	shift
	mkdir -p "$dir"
	local tmp
	tmp=$(mktemp -d "$dir/.download.XXXXXX")
	# As root, apt drops to the _apt user, which cannot write to our folder.
	local -a opts=(-q)
	[[ $EUID -eq 0 ]] && opts+=(-o APT::Sandbox::User=root)
	log "downloading: $*"
	if ! (cd "$tmp" && apt-get download "${opts[@]}" "$@" >&2); then
		# Stale package lists point at files the mirror no longer has.
		apt_update_once
		(cd "$tmp" && apt-get download "${opts[@]}" "$@" >&2) || { rm -rf "$tmp"; die "apt-get download $* failed"; }
	fi
	mv "$tmp"/*.deb "$dir"/
	rmdir "$tmp"
}
