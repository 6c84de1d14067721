import Foundation

/// What `swiftmount --help` and `swiftmount mount --help` say below the generated part: every
/// `-o` option (a test holds this, the README table and the man page to `MountOptions.names`),
/// and what the subcommands and exit codes are. Lines stay under 80 columns, so the help
/// formatter leaves them as they are.
let optionsHelp = """
Mounts an OpenStack Swift container as a directory (with --account, the whole
account: containers are the top-level directories, mkdir at the top creates
one). Credentials come from the environment: OS_AUTH_URL, OS_USERNAME,
OS_PASSWORD, OS_PROJECT_NAME, ... (Keystone v3; OS_AUTH_TYPE=
v3applicationcredential or token also work) or ST_AUTH, ST_USER, ST_KEY
(Swift tempauth).

Options (-o name=value,...):
  segment_size=64M        size of the segments of large files
  large_object_threshold=SIZE
                          files larger than this are segmented
                          (default: segment_size)
  expire_soon_interval=60 re-authenticate when the token expires within
                          this many seconds
  retry_get_count=3       retries of a failed or cut-short read
  retry_put_count=8       attempts of uploads and other requests meeting
                          transient failures (5xx, resets)
  upload_concurrency=4    upload threads
  max_write_buffer=256M   bytes of segments waiting for Swift (in cache_dir)
  read_ahead=16M          read-ahead window
  read_concurrency=4      fetch threads
  max_read_buffer=128M    read-ahead bytes in RAM (per mount)
  verify_md5              send each PUT's MD5, so Swift refuses a body
                          damaged on the way
  manifest=slo            large objects as static (slo) or dynamic (dlo)
                          manifests
  rename_dir_limit=1000   most objects a directory rename copies server-side;
                          above it rename is EXDEV (mv then copies)
  attr_timeout=2          seconds the kernel keeps attributes
  reauth_deadline=120     seconds to keep trying to re-authenticate
  log_level=info, log_file=PATH, debug
  cacert=FILE, insecure   TLS: a CA bundle, or no certificate checks
  segment_container=NAME  where segments go (default: CONTAINER_segments)
  cache_dir=/var/tmp/swiftmount
                          where written data waits for Swift, and where
                          files changed in place are staged until close
  shutdown_grace=SECONDS  SIGTERM/SIGINT wait this long for files being
                          written, then abort them (default: until they are
                          closed); readers get as long (without it, 30 s once
                          nothing is being written)
  metrics_port=PORT       Prometheus metrics on http://127.0.0.1:PORT/
  dir_cache_ttl=10        seconds a directory listing answers "no such file"
                          for names not in it
  attr_cache_entries=200000
                          above this many cached attributes, expired ones go
  attrs_from=objects      stat shows each object's exact mtime, mode, owner:
                          from listings for files swiftmount wrote, else a
                          HEAD per name; attrs_from=listing: listings only
  uid=N, gid=N, file_mode=0644, dir_mode=0755, umask=022
                          for objects that store none
  os_cloud=NAME           credentials from clouds.yaml (+ secure.yaml)
  credentials=FILE        OS_*=value lines (an openrc file); root's, not
                          readable by others
  config=FILE             options file (default /etc/swiftmount/
                          swiftmount.conf, sections [*], [CONTAINER],
                          [/mount/point]); -o options win over it
  trust=yes, service_credentials=FILE, service_cloud=NAME,
  user_token_file=FILE    multi-tenant: act for the user whose token is in
                          OS_TOKEN (or the file) through a Keystone trust to
                          the service user of FILE (a private clouds.yaml)
  trust_lifetime=604800   seconds the trust lives (renewed from
                          user_token_file)
  nodefault_permissions   with allow_other, let every user past the modes
                          shown (allow_other turns default_permissions on)
  libfuse and kernel options pass through (allow_other, ro,
  default_permissions, noatime, ...); mount(8)'s own (_netdev, nofail,
  noauto, x-systemd.*) are accepted; anything else is an error.

Subcommands: status shows what the daemon on MOUNTPOINT is doing (transfers,
token, requests, buffers); gc lists segments no manifest in the account refers
to, that no daemon here is uploading, older than --grace (default 3600 s), and
--delete removes them (gc --trusts: the service user's trusts no mount here
holds); migrate-attrs gives a container's existing objects the Content-Type
parameters that let ls -l answer from listings. See swiftmount help SUBCOMMAND.

Exit codes: 2 usage, 3 credentials or authentication, 4 container, 5 mount
point or daemon.
"""
