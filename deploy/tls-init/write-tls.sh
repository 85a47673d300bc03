#!/bin/sh
# Writes the PEM values of TLS_SERVER_CERT_PEM, TLS_SERVER_KEY_PEM and
# TLS_CLIENT_CA_PEM to the files that PROCESSOR_TLS_CERT_FILE, PROCESSOR_TLS_KEY_FILE
# and PROCESSOR_CLIENT_CA_FILE name in the task definition. The values are never
# printed.
set -eu

dir=/run/processor-tls
umask 0277

write_pem() {
	variable=$1
	file=$2
	eval "value=\${$variable:-}"
	case "$value" in
	*"-----BEGIN "*) ;;
	*)
		echo "tls-init: $variable is missing or contains no PEM block; check the Secrets entry of the task definition" >&2
		exit 1
		;;
	esac
	rm -f "$dir/$file"
	printf '%s\n' "$value" >"$dir/$file"
}

write_pem TLS_SERVER_CERT_PEM server.crt
write_pem TLS_SERVER_KEY_PEM server.key
write_pem TLS_CLIENT_CA_PEM client-ca.crt
echo "tls-init: wrote server.crt, server.key and client-ca.crt to $dir"
