#!/usr/bin/env bash
# A private nginx serving a folder on 127.0.0.1, for tests of thin bundles over HTTP (a folder
# written by `vmsfx publish`, or a bundle fetched with range requests) and for CI.
#
#   bash build-scripts/nginx-test-server.sh start <root-dir> <port>
#   bash build-scripts/nginx-test-server.sh stop [<port>]     (no port: every instance started here)
#   bash build-scripts/nginx-test-server.sh status [<port>]
#
# nginx comes from Debian's packages (nginx-light, else nginx) when it is not installed; the
# install is skipped when it is. The system service is neither used nor started: each instance
# has its own config, pid file, logs and temp folders in $VMSFX_NGINX_DIR/<port>/ (default
# .cache/nginx-test/<port>/ in the checkout), listens on 127.0.0.1:<port> only, and serves
# <root-dir> read-only. Static files answer byte-range requests (nginx does by default), with
# Accept-Ranges, ETag and Last-Modified. index.json and manifest.json are sent with
# "Cache-Control: no-cache" (they change on every publish), blocks/* as immutable.
#
# `start` returns once the server answers on its port. Starting an instance that already runs
# on the same port with the same root does nothing; with another root it is an error.
set -euo pipefail

log() { printf 'nginx-test-server: %s\n' "$*" >&2; }
die() { printf 'nginx-test-server: error: %s\n' "$*" >&2; exit 1; }

usage="usage: bash build-scripts/nginx-test-server.sh start <root-dir> <port> | stop [<port>] | status [<port>]"

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
STATE_PARENT=${VMSFX_NGINX_DIR:-$REPO_ROOT/.cache/nginx-test}
# Characters a path may not have to go into nginx's config inside double quotes ($ expands there).
UNSAFE='["\$[:cntrl:]]'

# shellcheck source=lib/host-tools.sh
source "$(dirname "$SCRIPT_PATH")/lib/host-tools.sh"

find_nginx() { find_tool nginx; }

# Installs nginx without starting Debian's service (lib/host-tools.sh).
install_nginx() { ensure_tool nginx nginx-light nginx; }

check_port() {
	if ! [[ $1 =~ ^[0-9]{1,5}$ ]] || ((10#$1 < 1 || 10#$1 > 65535)); then
		die "port must be a number in 1-65535, got '$1'"
	fi
}

# 0 while process $1 exists and is not a zombie (a daemon's exit is reaped by init, which here
# may take a second or more).
alive() {
	local state
	kill -0 "$1" 2>/dev/null || return 1
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)
	[[ $state != Z && $state != X ]]
}

# 0 when the instance in $1 (a state folder) has a live master process.
running() {
	local dir=$1 pid
	[[ -f $dir/nginx.pid ]] || return 1
	pid=$(<"$dir/nginx.pid")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	# A recycled pid is not ours: the master's command line names our config file.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/nginx.conf"
}

answers() {
	local port=$1
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

start() {
	[[ $# -eq 2 ]] || die "$usage"
	local root_arg=$1 port=$2 root dir nginx user group
	check_port "$port"
	[[ -d $root_arg ]] || die "root folder '$root_arg' does not exist or is not a folder"
	root=$(readlink -f "$root_arg")
	# The path goes into the config inside double quotes, where nginx expands $variables.
	[[ $root =~ $UNSAFE ]] && die "root folder '$root' contains a quote, backslash, \$ or control character; nginx's config cannot name it safely"
	dir=$STATE_PARENT/$port
	mkdir -p "$dir"
	dir=$(readlink -f "$dir")
	[[ $dir =~ $UNSAFE ]] && die "state folder '$dir' contains a quote, backslash, \$ or control character; set VMSFX_NGINX_DIR"

	if running "$dir"; then
		if [[ $(cat "$dir/root" 2>/dev/null) == "$root" ]]; then
			log "already serving $root on http://127.0.0.1:$port/ (pid $(<"$dir/nginx.pid"))"
			return 0
		fi
		die "an instance already runs on port $port serving $(cat "$dir/root" 2>/dev/null || echo '?'); stop it first (stop $port)"
	fi

	nginx=$(find_nginx) || {
		install_nginx
		nginx=$(find_nginx) || die "nginx was installed but no nginx binary was found"
	}

	mkdir -p "$dir/tmp"
	rm -f "$dir/nginx.pid"
	: >"$dir/error.log"
	# As root, nginx's workers would switch to "nobody", who may not read a private test folder.
	local user_line=""
	if [[ $EUID -eq 0 ]]; then
		user=$(id -un)
		group=$(id -gn)
		user_line="user $user $group;"
	fi
	cat >"$dir/nginx.conf" <<EOF
# Written by build-scripts/nginx-test-server.sh; a private test instance, not the system nginx.
$user_line
worker_processes 1;
pid "$dir/nginx.pid";
error_log "$dir/error.log" warn;
events { worker_connections 256; }
http {
    access_log "$dir/access.log";
    client_body_temp_path "$dir/tmp/body";
    proxy_temp_path "$dir/tmp/proxy";
    fastcgi_temp_path "$dir/tmp/fastcgi";
    uwsgi_temp_path "$dir/tmp/uwsgi";
    scgi_temp_path "$dir/tmp/scgi";
    types {
        application/json json;
    }
    default_type application/octet-stream;
    sendfile on;
    server_tokens off;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        root "$root";
        autoindex off;
        location = /index.json { add_header Cache-Control "no-cache"; }
        location = /manifest.json { add_header Cache-Control "no-cache"; }
        location = /signature { add_header Cache-Control "no-cache"; }
        location /blocks/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
        location / { }
    }
}
EOF
	printf '%s\n' "$root" >"$dir/root"

	# -e (nginx 1.19.5+) keeps even the first messages out of the system's /var/log/nginx.
	local args=(-p "$dir/" -c "$dir/nginx.conf")
	if "$nginx" -h 2>&1 | grep -q -- '-e filename'; then args+=(-e "$dir/error.log"); fi
	"$nginx" -t -q "${args[@]}" 2>"$dir/startup.log" ||
		die "nginx rejected its config $dir/nginx.conf: $(tail -n 5 "$dir/startup.log")"
	# Daemonizes: returns once the master runs (or failed to bind, e.g. the port is taken).
	"$nginx" "${args[@]}" 2>"$dir/startup.log" ||
		die "nginx did not start on 127.0.0.1:$port: $(tail -n 5 "$dir/startup.log")"

	local i
	for ((i = 0; i < 100; i++)); do
		if running "$dir" && answers "$port"; then
			log "serving $root on http://127.0.0.1:$port/ (pid $(<"$dir/nginx.pid"), logs in $dir)"
			return 0
		fi
		sleep 0.05
	done
	die "nginx started but does not answer on 127.0.0.1:$port after 5 s: $(tail -n 5 "$dir/error.log")"
}

stop_one() {
	local dir=$1 pid i
	if ! running "$dir"; then
		rm -f "$dir/nginx.pid"
		return 0
	fi
	pid=$(<"$dir/nginx.pid")
	kill -QUIT "$pid" 2>/dev/null || true # graceful: finishes requests in flight
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	if alive "$pid"; then
		log "nginx (pid $pid) did not stop within 5 s; terminating it"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			alive "$pid" || break
			sleep 0.05
		done
	fi
	if alive "$pid"; then die "nginx (pid $pid) did not stop; see $dir/error.log"; fi
	rm -f "$dir/nginx.pid"
	log "stopped the instance on port $(basename "$dir")"
}

stop() {
	[[ $# -le 1 ]] || die "$usage"
	if [[ $# -eq 1 ]]; then
		check_port "$1"
		[[ -d $STATE_PARENT/$1 ]] || { log "nothing runs on port $1"; return 0; }
		stop_one "$STATE_PARENT/$1"
		return 0
	fi
	[[ -d $STATE_PARENT ]] || return 0
	local d
	for d in "$STATE_PARENT"/*/; do
		[[ -d $d ]] || continue
		stop_one "${d%/}"
	done
}

status() {
	[[ $# -le 1 ]] || die "$usage"
	local d found=0
	for d in "$STATE_PARENT"/${1:-*}/; do
		[[ -d $d ]] || continue
		d=${d%/}
		if running "$d"; then
			printf '%s\t%s\tpid %s\n' "$(basename "$d")" "$(cat "$d/root" 2>/dev/null)" "$(<"$d/nginx.pid")"
			found=1
		fi
	done
	[[ $found -eq 1 ]] || { log "no instance running"; return 1; }
}

[[ $# -ge 1 ]] || die "$usage"
cmd=$1
shift
case "$cmd" in
	start) start "$@" ;;
	stop) stop "$@" ;;
	status) status "$@" ;;
	-h | --help | help) printf '%s\n' "$usage" ;;
	*) die "$usage" ;;
esac
