#!/bin/sh
# dns-hook-cloudflare.sh - a certkeep dns-01 hook for Cloudflare's DNS API.
#
#   certkeep issue -d example.org -d '*.example.org' --challenge dns-01 \
#       --dns-hook /usr/local/lib/certkeep/dns-hook-cloudflare.sh
#
# certkeep runs it as `HOOK add FQDN VALUE` and later `HOOK del FQDN VALUE`
# (FQDN = _acme-challenge.NAME, no final dot), with no shell in between and
# an environment holding only PATH: the hook reads its own settings.
#
# The API token (Cloudflare: My Profile > API Tokens, permission
# Zone.DNS:Edit on the zone) lives in a file only root can read:
#
#   install -m 0600 /dev/null /etc/certkeep/cloudflare.token
#   printf '%s\n' 'TOKEN' > /etc/certkeep/cloudflare.token
#
# It never appears on a command line (curl reads the header from its
# standard input) nor in the environment.  Needs curl and jq.
set -eu

TOKEN_FILE=/etc/certkeep/cloudflare.token
API=https://api.cloudflare.com/client/v4
TTL=60

die() { echo "dns-hook-cloudflare: $*" >&2; exit 1; }

[ $# -eq 3 ] || die "usage: $0 add|del FQDN VALUE"
op=$1 fqdn=$2 value=$3
[ -r "$TOKEN_FILE" ] || die "cannot read the API token file $TOKEN_FILE"

# cf METHOD PATH [JSON]: one API call; the token goes to curl on stdin.
cf() {
	token=$(head -n 1 "$TOKEN_FILE")
	{
		printf 'header = "Authorization: Bearer %s"\n' "$token"
		printf 'header = "Content-Type: application/json"\n'
		if [ $# -ge 3 ]; then printf 'data = "%s"\n' "$(printf '%s' "$3" | sed 's/[\\"]/\\&/g')"; fi
	} | curl -sS --fail-with-body --max-time 30 -X "$1" --config - "$API$2"
	token=
}

# The zone: the longest suffix of the name that Cloudflare has as a zone.
zone_id() {
	name=${fqdn#_acme-challenge.}
	while :; do
		out=$(cf GET "/zones?name=$name") || die "Cloudflare API: $out"
		id=$(printf '%s' "$out" | jq -r '.result[0].id // empty')
		[ -n "$id" ] && { echo "$id"; return 0; }
		case $name in *.*.*) name=${name#*.} ;; *) return 0 ;; esac
	done
}

zone=$(zone_id) || exit 1
[ -n "$zone" ] || die "no Cloudflare zone found for $fqdn"

case $op in
add)
	cf POST "/zones/$zone/dns_records" \
		"$(jq -cn --arg n "$fqdn" --arg v "$value" --argjson t "$TTL" \
			'{type: "TXT", name: $n, content: $v, ttl: $t}')" >/dev/null
	;;
del)
	out=$(cf GET "/zones/$zone/dns_records?type=TXT&name=$fqdn") || die "Cloudflare API: $out"
	for id in $(printf '%s' "$out" | jq -r --arg v "$value" '.result[] | select(.content == $v or .content == "\"" + $v + "\"") | .id'); do
		cf DELETE "/zones/$zone/dns_records/$id" >/dev/null
	done
	;;
*)
	die "unknown operation $op (add or del)"
	;;
esac
