# Shared by the build scripts that fetch Debian packages without installing them (sourced, not
# run). The caller defines log() and die(). Downloads land in a scratch folder and are moved into
# the cache only when complete, so an interrupted download never leaves a partial .deb under a
# real name.

as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_update_once() {
	((apt_updated)) && return 0
	log "running apt-get update"
	# A mirror mid-sync fails one index now and then; the ones we need may still be fine, and
	# apt-get download says clearly if they are not.
	as_root apt-get update -qq >&2 || log "apt-get update reported errors; going on with the lists it has"
	apt_updated=1
}

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
