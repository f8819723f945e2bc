#!/bin/sh
# The start-up contract of the official mysql:5.7 image, for MariaDB: on an empty data directory,
# create the system tables, set the root password (MYSQL_ROOT_PASSWORD, or an empty one with
# MYSQL_ALLOW_EMPTY_PASSWORD), create MYSQL_DATABASE and MYSQL_USER/MYSQL_PASSWORD, then run the
# server in the foreground as PID 1 on port 3306. Any other command runs as given (`mysql`, `sh`).
set -eu

if [ "${1:-mysqld}" != mysqld ]; then
	exec "$@"
fi
shift || true

datadir=/var/lib/mysql
mkdir -p "$datadir" /run/mysqld

log() { echo "$(date -u '+%Y-%m-%d %H:%M:%S+00:00') [Note] [Entrypoint]: $*"; }

# SQL string and identifier quoting for values that come from the Pod's environment.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }
ident() { printf '`%s`' "$(printf '%s' "$1" | sed -e 's/`/``/g')"; }

if [ ! -d "$datadir/mysql" ]; then
	if [ -z "${MYSQL_ROOT_PASSWORD:-}" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]; then
		echo "$(date -u '+%Y-%m-%d %H:%M:%S+00:00') [ERROR] [Entrypoint]: Database is uninitialized and password option is not specified" >&2
		echo "    You need to specify one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD" >&2
		exit 1
	fi
	log "Initializing database files"
	# --force: install-db refuses when the host name does not resolve, which is no concern of a
	# server that only creates accounts for '%' and localhost.
	mariadb-install-db --datadir="$datadir" --user=root --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve --force --innodb-use-native-aio=0 >/dev/null
	log "Starting temporary server"
	mariadbd --user=root --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock \
		--innodb-use-native-aio=0 &
	pid=$!
	tries=0
	until mariadb --socket=/run/mysqld/init.sock -uroot -e 'SELECT 1' >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ "$tries" -gt 300 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "[ERROR] [Entrypoint]: Unable to start the temporary server" >&2
			exit 1
		fi
		sleep 0.1
	done
	{
		password=$(quote "${MYSQL_ROOT_PASSWORD:-}")
		# install-db also makes password-less root accounts for 127.0.0.1, ::1 and the host name:
		# keep only root@localhost (the socket) and root@'%', both with the password, as mysql:5.7.
		echo "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';"
		echo "FLUSH PRIVILEGES;"
		echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $password;"
		echo "CREATE USER 'root'@'%' IDENTIFIED BY $password;"
		echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
		if [ -n "${MYSQL_DATABASE:-}" ]; then
			log "Creating database ${MYSQL_DATABASE}" >&2
			echo "CREATE DATABASE IF NOT EXISTS $(ident "$MYSQL_DATABASE");"
		fi
		if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
			log "Creating user ${MYSQL_USER}" >&2
			echo "CREATE USER $(quote "$MYSQL_USER")@'%' IDENTIFIED BY $(quote "$MYSQL_PASSWORD");"
			if [ -n "${MYSQL_DATABASE:-}" ]; then
				echo "GRANT ALL ON $(ident "$MYSQL_DATABASE").* TO $(quote "$MYSQL_USER")@'%';"
			fi
		fi
		echo "FLUSH PRIVILEGES;"
	} | mariadb --socket=/run/mysqld/init.sock -uroot
	log "Stopping temporary server"
	kill "$pid"
	wait "$pid" || true
	log "Temporary server stopped"
	log "MySQL init process done. Ready for start up."
fi

# Native AIO off: Pods run under the runtime's default seccomp profile (seccompDefault), which may
# refuse io_uring; InnoDB's own I/O threads need nothing it forbids. Args given to the container
# come last and win.
exec mariadbd --user=root --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 \
	--socket=/run/mysqld/mysqld.sock --innodb-use-native-aio=0 "$@"
