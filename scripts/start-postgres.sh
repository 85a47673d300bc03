#!/usr/bin/env bash
# Starts the local PostgreSQL cluster when no server accepts connections on
# 127.0.0.1:5432, then makes sure the database `test` exists. The store
# tests connect to postgres://postgres@127.0.0.1:5432/test unless
# PROCESSOR_TEST_DATABASE_URL names another server, in which case this
# script does nothing.
set -euo pipefail

if [[ -n ${PROCESSOR_TEST_DATABASE_URL:-} ]]; then
	echo "start-postgres: PROCESSOR_TEST_DATABASE_URL is set; leaving PostgreSQL alone"
	exit 0
fi

host=127.0.0.1
port=5432
user=postgres
database='test'

for tool in pg_isready psql createdb; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "start-postgres: $tool not found; install PostgreSQL with: apt-get install -y postgresql" >&2
		exit 1
	fi
done

if ! pg_isready -q -h "$host" -p "$port"; then
	if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ ! -d /etc/postgresql ]]; then
		echo "start-postgres: no server accepts connections on $host:$port, and no local cluster is installed to start" >&2
		exit 1
	fi
	# The newest installed major version, when there is more than one.
	version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)
	echo "start-postgres: starting PostgreSQL $version (cluster main)"
	as_root=()
	if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
		as_root=(sudo -n)
	fi
	"${as_root[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start

	# pg_ctlcluster returns once the server process runs, so wait up to 30 s
	# for it to accept connections.
	for _ in $(seq 60); do
		pg_isready -q -h "$host" -p "$port" && break
		sleep 0.5
	done
	if ! pg_isready -q -h "$host" -p "$port"; then
		echo "start-postgres: PostgreSQL did not accept connections on $host:$port within 30 s" >&2
		exit 1
	fi
fi

exists=$(psql -h "$host" -p "$port" -U "$user" -d postgres -tAc \
	"SELECT 1 FROM pg_database WHERE datname = '$database'")
if [[ $exists != 1 ]]; then
	echo "start-postgres: creating database $database"
	createdb -h "$host" -p "$port" -U "$user" "$database"
fi
pg_isready -h "$host" -p "$port"
