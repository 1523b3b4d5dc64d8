#!/bin/bash
# Builds the oci-notes sample's image for linux/386 with umoci (and a docker-archive copy of it
# with skopeo), as a publisher without Docker would:
#
#   ./make-image.sh [OUT]     (OUT defaults to ./image, beside this script)
#
#   OUT/layout                an OCI image layout, tag "notes"   <- app.json's "image"
#   OUT/notes-docker.tar      the same image as a `docker save` archive (vmsfx/oci-notes:1)
#
# Two layers, each a tar made with GNU tar and added with `umoci raw add-layer` (umoci 0.4.7's
# `insert` writes broken tars):
#   1. base: Debian's static busybox for i386 with its applet links, /etc/passwd with root only,
#      and /etc/motd;
#   2. app:  the notes script, /etc/passwd and /etc/group with the user "notes" (uid 1000), its
#      home and the data folder /var/lib/notes owned by it, and a whiteout of the base's
#      /etc/motd (proof that the layers are applied in order).
# Entrypoint, Cmd, Env, WorkingDir and User are set with `umoci config`. Every time in the image
# is fixed, so the same busybox gives the same image, digest for digest.
#
# Needs umoci, skopeo, dpkg-deb and GNU tar (apt-get install umoci skopeo), and busybox-static's
# i386 .deb: $BUSYBOX_DEB, else the newest in vmsfx's download cache (~/.cache/vmsfx/debs/,
# there once any vmsfx guest has been built on this machine), else `apt-get download
# busybox-static:i386` (needs `dpkg --add-architecture i386`). Root is not needed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/image}
die() { echo "make-image.sh: $*" >&2; exit 1; }
for tool in umoci skopeo dpkg-deb tar; do command -v "$tool" >/dev/null || die "$tool is not installed (sudo apt-get install umoci skopeo dpkg tar)"; done

EPOCH=1704067200 # 2024-01-01T00:00:00Z
CREATED=2024-01-01T00:00:00Z
TAG=notes

cache=${VMSFX_DOWNLOAD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmsfx}
work=$(mktemp -d "${TMPDIR:-/tmp}/oci-notes.XXXXXX")
trap 'rm -rf "$work"' EXIT

deb=${BUSYBOX_DEB:-}
if [[ -z $deb ]]; then
	deb=$(compgen -G "$cache/debs/busybox-static_*_i386.deb" | sort -V | tail -n 1 || true)
fi
if [[ -z $deb ]]; then
	(cd "$work" && apt-get download busybox-static:i386 >/dev/null) ||
		die "no busybox-static i386 .deb: set BUSYBOX_DEB=/path/to/busybox-static_..._i386.deb, or enable i386 in apt (sudo dpkg --add-architecture i386 && sudo apt-get update)"
	deb=$(compgen -G "$work/busybox-static_*_i386.deb" | head -n 1)
fi
[[ -f $deb ]] || die "$deb is not a file"

# A layer's tar: names ./..., sorted, fixed times, owned by root but for the paths given after
# --user-owned, which belong to 1000:1000.
layer_tar() {
	local dir=$1 tarfile=$2
	shift 2
	local excludes=() p
	for p in "$@"; do excludes+=("--exclude=./$p"); done
	local common=(--format=gnu --sort=name --mtime="@$EPOCH" --numeric-owner)
	tar "${common[@]}" --owner=0 --group=0 "${excludes[@]}" -C "$dir" -cf "$tarfile" .
	[[ $# -eq 0 ]] || tar "${common[@]}" --owner=1000 --group=1000 --no-recursion -C "$dir" -rf "$tarfile" "${@/#/./}"
}

# Layer 1: the base.
base=$work/base
mkdir -p "$work/deb" "$base/bin" "$base/etc" "$base/root" "$base/tmp" "$base/usr/local/bin" "$base/var/lib"
dpkg-deb -x "$deb" "$work/deb"
cp "$work/deb/bin/busybox" "$base/bin/busybox"
for applet in sh ash cat echo env false grep head id ls mkdir printf pwd rm sed sleep tail true wc; do
	ln -s busybox "$base/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$base/etc/passwd"
printf 'root:x:0:\n' >"$base/etc/group"
printf 'This is the base layer'"'"'s motd; the app layer deletes it.\n' >"$base/etc/motd"
chmod 0755 "$base" "$base/bin/busybox" "$base/etc" "$base/usr" "$base/usr/local" "$base/usr/local/bin" "$base/var" "$base/var/lib"
chmod 0700 "$base/root"
chmod 1777 "$base/tmp"
chmod 0644 "$base/etc/passwd" "$base/etc/group" "$base/etc/motd"
layer_tar "$base" "$work/base.tar"

# Layer 2: the app.
app=$work/app
mkdir -p "$app/etc" "$app/usr/local/bin" "$app/home/notes" "$app/var/lib/notes"
install -m 0755 "$here/notes" "$app/usr/local/bin/notes"
printf 'root:x:0:0:root:/root:/bin/sh\nnotes:x:1000:1000:Notes:/home/notes:/bin/sh\n' >"$app/etc/passwd"
printf 'root:x:0:\nnotes:x:1000:\n' >"$app/etc/group"
: >"$app/etc/.wh.motd"
chmod 0755 "$app" "$app/etc" "$app/usr" "$app/usr/local" "$app/usr/local/bin" "$app/home" "$app/var" "$app/var/lib"
chmod 0750 "$app/home/notes" "$app/var/lib/notes"
chmod 0644 "$app/etc/passwd" "$app/etc/group" "$app/etc/.wh.motd"
layer_tar "$app" "$work/app.tar" home/notes var/lib/notes

rm -rf "$out/layout" "$out/notes-docker.tar"
mkdir -p "$out"
oci=$out/layout
umoci init --layout "$oci"
umoci new --image "$oci:$TAG"
umoci raw add-layer --image "$oci:$TAG" --history.created="$CREATED" --history.created_by="busybox-static for i386 ($(basename "$deb"))" "$work/base.tar"
umoci raw add-layer --image "$oci:$TAG" --history.created="$CREATED" --history.created_by="the notes app, its user, and a whiteout of /etc/motd" "$work/app.tar"
umoci config --image "$oci:$TAG" --created="$CREATED" --history.created="$CREATED" --history.created_by="umoci config" \
	--architecture=386 --os=linux \
	--config.entrypoint=/usr/local/bin/notes --config.cmd=shell \
	--config.env=PATH=/usr/local/bin:/bin --config.env=NOTES_DIR=/var/lib/notes \
	--config.env="NOTES_GREETING=Notes, from an OCI image made by umoci" \
	--config.workingdir=/home/notes --config.user=notes
umoci gc --layout "$oci"
skopeo copy --quiet "oci:$oci:$TAG" "docker-archive:$out/notes-docker.tar:vmsfx/oci-notes:1"
echo "made $oci (tag $TAG) and $out/notes-docker.tar"
