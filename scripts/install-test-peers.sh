#!/bin/sh
# The real peers the tests talk to, from Debian's (or Ubuntu's) packages: a DNS server, a DNS blocklist server,
# SMTP clients and sinks, clamd, a PostgreSQL server to start throwaway clusters, openssl, systemd-analyze.
# Does nothing when they are all there; otherwise installs them with apt-get (as root, or through sudo).
set -eu

missing=""
need() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || missing="$missing $2"; }
need unbound unbound
need rbldnsd rbldnsd
need swaks "swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl"
need clamd "clamav clamav-daemon clamdscan"
need /usr/sbin/smtp-sink postfix
need dig bind9-dnsutils
need pdftoppm poppler-utils
need openssl openssl
need systemd-analyze systemd
need psql postgresql-client
# The console's browser tests drive Debian's Chromium through playwright-core (never a downloaded browser).
need /usr/bin/chromium "chromium fonts-dejavu-core"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
[ -z "$missing" ] && exit 0

echo "installing test peers:$missing" >&2
if [ "$(id -u)" = 0 ]; then as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then as_root() { sudo "$@"; }
else
  echo "the tests need these Debian packages:$missing; install them as root (apt-get install$missing)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update
# Postfix is a peer (the benchmarks' reference relay, smtp-sink), never the system's MTA.
echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
as_root apt-get install -y --no-install-recommends $missing ca-certificates
