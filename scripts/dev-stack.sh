#!/usr/bin/env bash
# A real OpenStack Swift + Keystone on 127.0.0.1, from Debian's packages, for development and tests.
#
#   dev-stack.sh install              apt packages (idempotent)
#   dev-stack.sh start                configure (first time) and start every service; waits until ready
#   dev-stack.sh stop [SERVICE...]    stop the services this script started (by PID), or some of them
#                                     (keystone, proxy-keystone, proxy-tempauth, memcached, ...)
#   dev-stack.sh status               which services run
#   dev-stack.sh env [demo|service|admin|tempauth|reseller]   export lines for a user (default demo)
#   dev-stack.sh clouds               path of a clouds.yaml with clouds demo, service, admin
#
# Environment: TOKEN_TTL (Keystone token lifetime, s; default: the last one started with, else 3600),
# TEMPAUTH_TTL (likewise, else 86400),
# AUTHTOKEN_CACHE_TIME (how long the proxy trusts a validated token, default 10),
# SWIFTMOUNT_STACK_DIR (state, default /var/lib/swiftmount-dev).
# Ports: Keystone 5000, Swift proxy with Keystone 8080, with tempauth 8081, memcached 11211,
# object/container/account servers 6200/6201/6202.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${SWIFTMOUNT_STACK_DIR:-/var/lib/swiftmount-dev}
RUN=$DIR/run
LOG=$DIR/log
PY=/usr/bin/python3
# Unset TOKEN_TTL / TEMPAUTH_TTL keep the lifetimes last started with (so a benchmark or a restart
# does not undo a test's 8 s tokens).
if [ -z "${TOKEN_TTL:-}" ] && [ -f "$RUN/keystone.ttl" ]; then TOKEN_TTL=$(cat "$RUN/keystone.ttl"); fi
TOKEN_TTL=${TOKEN_TTL:-3600}
if [ -z "${TEMPAUTH_TTL:-}" ] && [ -f "$RUN/tempauth.ttl" ]; then TEMPAUTH_TTL=$(cat "$RUN/tempauth.ttl"); fi
TEMPAUTH_TTL=${TEMPAUTH_TTL:-86400}
AUTHTOKEN_CACHE_TIME=${AUTHTOKEN_CACHE_TIME:-10}
KS_URL=http://127.0.0.1:5000/v3

die() { echo "dev-stack: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

secrets() {
  # Random passwords, made once, readable by root only.
  local f=$DIR/secrets.env
  if [ ! -f "$f" ]; then
    mkdir -p "$DIR"; umask 077
    {
      for v in ADMIN_PASSWORD DEMO_PASSWORD SERVICE_PASSWORD SWIFT_PASSWORD TEMPAUTH_KEY; do
        echo "$v=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
      done
    } > "$f"
  fi
  set -a; . "$f"; set +a
}

write_swift_conf() {
  local etc=$DIR/etc/swift
  mkdir -p "$etc" "$DIR/srv/d1" "$RUN" "$LOG"
  # Every Swift server reads /etc/swift/swift.conf whatever swift_dir says.
  [ -f /etc/swift/swift.conf.orig ] || cp /etc/swift/swift.conf /etc/swift/swift.conf.orig 2>/dev/null || true
  cat > /etc/swift/swift.conf <<CONF
[swift-hash]
swift_hash_path_suffix = swiftmount-dev
swift_hash_path_prefix = swiftmount-dev

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
CONF
  local kind port
  for kind in object container account; do
    case $kind in object) port=6200;; container) port=6201;; account) port=6202;; esac
    cat > "$etc/$kind-server.conf" <<CONF
[DEFAULT]
devices = $DIR/srv
mount_check = false
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = root
swift_dir = $etc
log_level = INFO

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind
CONF
  done
  [ -f "$etc/object.ring.gz" ] || $PY "$HERE/devstack/make_rings.py" "$etc"

  local common="catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit"
  local tail="copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server"
  local name auth port
  for name in keystone tempauth; do
    if [ $name = keystone ]; then port=8080; auth="authtoken keystoneauth"; else port=8081; auth=tempauth; fi
    ( umask 077; cat > "$etc/proxy-$name.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = root
swift_dir = $etc
log_level = INFO

[pipeline:main]
pipeline = $common $auth $tail

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:11211
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:ratelimit]
use = egg:swift#ratelimit
[filter:copy]
use = egg:swift#copy
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:account-quotas]
use = egg:swift#account_quotas
# The dev stack serves segments without Swift's default 1/s throttle after segment 10.
# 100 segments per manifest (Swift's default is 1000) so tests reach the limit with small files.
[filter:slo]
use = egg:swift#slo
rate_limit_after_segment = 100000
max_manifest_segments = 100
[filter:dlo]
use = egg:swift#dlo
rate_limit_after_segment = 100000
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
[filter:symlink]
use = egg:swift#symlink

[filter:tempauth]
use = egg:swift#tempauth
token_life = $TEMPAUTH_TTL
user_test_tester = $TEMPAUTH_KEY .admin
user_reseller_admin = $TEMPAUTH_KEY .reseller_admin

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
reseller_admin_role = ResellerAdmin

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = swift
password = $SWIFT_PASSWORD
delay_auth_decision = True
memcached_servers = 127.0.0.1:11211
token_cache_time = $AUTHTOKEN_CACHE_TIME
CONF
    )
  done
}

write_keystone_conf() {
  local ks=$DIR/keystone
  mkdir -p "$ks/fernet-keys" "$ks/credential-keys" "$RUN" "$LOG"
  ( umask 077; cat > "$ks/keystone.conf" <<CONF
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$ks/keystone.db
[token]
provider = fernet
expiration = $TOKEN_TTL
[fernet_tokens]
key_repository = $ks/fernet-keys
[credential]
key_repository = $ks/credential-keys
[identity]
password_hash_rounds = 4
[cache]
enabled = true
backend = oslo_cache.memcache_pool
memcache_servers = 127.0.0.1:11211
CONF
  )
  cat > "$ks/uwsgi.ini" <<CONF
[uwsgi]
http11-socket = 127.0.0.1:5000
wsgi-file = /usr/bin/keystone-wsgi-public
master = true
processes = 1
threads = 4
need-app = true
die-on-term = true
env = OS_KEYSTONE_CONFIG_FILES=$ks/keystone.conf
CONF
}

pid_alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

launch() { # name command...
  local name=$1; shift
  pid_alive "$name" && return 0
  # Close inherited descriptors above stderr: a caller waiting for EOF on one of its pipes (a test
  # runner's process monitor, say) would otherwise wait for as long as the service lives.
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    exec setsid "$@"
  ) >>"$LOG/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
}

wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 5; i++)); do
    curl -s -o /dev/null -m 2 "$1" && return 0
    sleep 0.2
  done
  return 1
}

keystone_db() {
  local ks=$DIR/keystone conf=$DIR/keystone/keystone.conf
  [ -f "$ks/.bootstrapped" ] && return 0
  keystone-manage --config-file "$conf" db_sync >>"$LOG/keystone-manage.log" 2>&1
  # SQLite with several uwsgi threads needs WAL, or writes fail with "database is locked".
  $PY -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL')" "$ks/keystone.db"
  keystone-manage --config-file "$conf" fernet_setup --keystone-user root --keystone-group root >>"$LOG/keystone-manage.log" 2>&1
  keystone-manage --config-file "$conf" credential_setup --keystone-user root --keystone-group root >>"$LOG/keystone-manage.log" 2>&1
  OS_BOOTSTRAP_PASSWORD=$ADMIN_PASSWORD keystone-manage --config-file "$conf" bootstrap \
    --bootstrap-admin-url $KS_URL --bootstrap-public-url $KS_URL --bootstrap-internal-url $KS_URL \
    --bootstrap-region-id RegionOne >>"$LOG/keystone-manage.log" 2>&1
  touch "$ks/.needs-setup" "$ks/.bootstrapped"
}

start() {
  secrets
  write_swift_conf
  # Keystone's token lifetime is read at start: restart it when TOKEN_TTL changed.
  local ttl_file=$RUN/keystone.ttl
  if pid_alive keystone && [ "$(cat "$ttl_file" 2>/dev/null)" != "$TOKEN_TTL" ]; then stop_one keystone; fi
  for p in proxy-keystone proxy-tempauth; do
    if pid_alive $p && [ "$(cat "$RUN/$p.conf-sum" 2>/dev/null)" != "$(md5sum < "$DIR/etc/swift/$p.conf")" ]; then stop_one $p; fi
  done
  write_keystone_conf
  keystone_db
  # Tempauth hands out the token it cached for a user while that token lives: one issued under
  # another TEMPAUTH_TTL (a benchmark's hour) would outlive a test's short lifetime.
  if pid_alive memcached && [ "$(cat "$RUN/tempauth.ttl" 2>/dev/null)" != "$TEMPAUTH_TTL" ]; then stop_one memcached; fi
  launch memcached memcached -u root -l 127.0.0.1 -p 11211 -m 128 -U 0
  local etc=$DIR/etc/swift k
  for k in object container account; do
    launch $k-server swift-$k-server "$etc/$k-server.conf" -v
  done
  launch keystone uwsgi_python3 --ini "$DIR/keystone/uwsgi.ini"
  echo "$TOKEN_TTL" > "$ttl_file"
  launch proxy-keystone swift-proxy-server "$etc/proxy-keystone.conf" -v
  launch proxy-tempauth swift-proxy-server "$etc/proxy-tempauth.conf" -v
  for p in proxy-keystone proxy-tempauth; do md5sum < "$etc/$p.conf" > "$RUN/$p.conf-sum"; done
  echo "$TEMPAUTH_TTL" > "$RUN/tempauth.ttl"
  wait_http $KS_URL 90 || die "keystone did not start (see $LOG/keystone.log)"
  if [ -f "$DIR/keystone/.needs-setup" ]; then
    KS_URL=$KS_URL SWIFT_PUBLIC_URL=http://127.0.0.1:8080 $PY "$HERE/devstack/keystone_setup.py" >>"$LOG/keystone-manage.log" 2>&1 \
      || die "keystone setup failed (see $LOG/keystone-manage.log)"
    rm -f "$DIR/keystone/.needs-setup"
  fi
  wait_http http://127.0.0.1:8080/healthcheck 60 || die "swift proxy did not start (see $LOG/proxy-keystone.log)"
  wait_http http://127.0.0.1:8081/healthcheck 60 || die "tempauth proxy did not start (see $LOG/proxy-tempauth.log)"
  for port in 6200 6201 6202; do
    wait_http http://127.0.0.1:$port/recon/version 30 || true
  done
  echo "dev-stack: running (token TTL ${TOKEN_TTL}s); state in $DIR"
}

stop_one() {
  local name=$1 pid i
  [ -f "$RUN/$name.pid" ] || return 0
  pid=$(cat "$RUN/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$name.pid"
}

stop() { # [SERVICE...] (default: all); `start` brings back whatever is stopped
  local n names=("$@")
  [ ${#names[@]} -eq 0 ] && names=(proxy-keystone proxy-tempauth keystone object-server container-server account-server memcached)
  for n in "${names[@]}"; do
    stop_one "$n"
  done
  echo "dev-stack: stopped ${names[*]}"
}

status() {
  local n rc=0
  for n in memcached object-server container-server account-server keystone proxy-keystone proxy-tempauth; do
    if pid_alive $n; then echo "$n: running (pid $(cat "$RUN/$n.pid"))"; else echo "$n: stopped"; rc=1; fi
  done
  return $rc
}

print_env() {
  secrets
  local who=${1:-demo}
  echo "unset OS_CLOUD OS_TOKEN OS_AUTH_TYPE OS_AUTH_URL OS_IDENTITY_API_VERSION OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_PROJECT_ID OS_USER_DOMAIN_NAME OS_PROJECT_DOMAIN_NAME OS_REGION_NAME OS_APPLICATION_CREDENTIAL_ID OS_APPLICATION_CREDENTIAL_NAME OS_APPLICATION_CREDENTIAL_SECRET ST_AUTH ST_USER ST_KEY"
  case $who in
    demo|service|admin)
      local pw project
      case $who in demo) pw=$DEMO_PASSWORD; project=demo;; service) pw=$SERVICE_PASSWORD; project=service;; admin) pw=$ADMIN_PASSWORD; project=admin;; esac
      cat <<ENV
export OS_AUTH_URL=$KS_URL
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$who
export OS_PASSWORD=$pw
export OS_PROJECT_NAME=$project
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
ENV
      ;;
    tempauth|reseller)
      # reseller: tempauth's reseller admin, who may set account quotas (X-Account-Meta-Quota-Bytes).
      local st_user=test:tester
      [ "$who" = reseller ] && st_user=reseller:admin
      cat <<ENV
export ST_AUTH=http://127.0.0.1:8081/auth/v1.0
export ST_USER=$st_user
export ST_KEY=$TEMPAUTH_KEY
ENV
      ;;
    *) die "unknown user '$who' (demo, service, admin, tempauth, reseller)";;
  esac
}

clouds() {
  secrets
  local f=$DIR/clouds.yaml
  ( umask 077; cat > "$f" <<YAML
clouds:
  demo:
    auth:
      auth_url: $KS_URL
      username: demo
      password: $DEMO_PASSWORD
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  service:
    auth:
      auth_url: $KS_URL
      username: service
      password: $SERVICE_PASSWORD
      project_name: service
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  admin:
    auth:
      auth_url: $KS_URL
      username: admin
      password: $ADMIN_PASSWORD
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
YAML
  )
  echo "$f"
}

case ${1:-} in
  install) bash "$HERE/install-deps.sh" --with-stack ;;
  start) start ;;
  stop) shift; stop "$@" ;;
  restart) stop; start ;;
  status) status ;;
  env) print_env "${2:-demo}" ;;
  clouds) clouds ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
