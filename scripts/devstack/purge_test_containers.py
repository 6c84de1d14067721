"""Deletes what earlier test runs left in the dev stack's demo account: containers named as the
tests name them (base-xxxxxxxx, with a _segments twin) and untouched for an hour (not those of a run
going on), with everything in them. Every large-object
unlink and every gc scans the whole account, so leftovers slow each later run. Smallest containers
first, 16 DELETEs at a time, for at most PURGE_SECONDS (180): a machine with many leftovers is
cleaned over several runs. Credentials come from the environment (dev-stack.sh env demo)."""
import concurrent.futures, datetime, os, re, sys, threading, time
from swiftclient.client import ClientException, Connection

test_name = re.compile(r"^(t|c|conf|acct)-[0-9a-f]{8}(_segments)?$")
deadline = time.monotonic() + float(os.environ.get("PURGE_SECONDS", "180"))
options = dict(authurl=os.environ["OS_AUTH_URL"], auth_version="3", user=os.environ["OS_USERNAME"],
               key=os.environ["OS_PASSWORD"], retries=6, os_options={
                   "project_name": os.environ["OS_PROJECT_NAME"],
                   "user_domain_name": os.environ.get("OS_USER_DOMAIN_NAME", "Default"),
                   "project_domain_name": os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default")})
local = threading.local()

def connection():
    if not hasattr(local, "connection"):
        local.connection = Connection(**options)
    return local.connection

def ignoring_404(call, *args):
    try:
        call(*args)
    except ClientException as error:
        if error.http_status != 404:
            raise

def objects(name):
    try:
        return name, [o["name"] for o in connection().get_container(name, full_listing=True)[1]]
    except ClientException as error:
        if error.http_status == 404:
            return name, []
        raise

def delete_object(job):
    if time.monotonic() < deadline:
        try:
            ignoring_404(connection().delete_object, *job)
        except ClientException as error:
            # The container is listed again by a later run; this one goes on.
            print("%s/%s: %s" % (job[0], job[1], error), file=sys.stderr)

_, account = Connection(**options).get_account(full_listing=True)
an_hour_ago = (datetime.datetime.utcnow() - datetime.timedelta(hours=1)).isoformat()
names = [c["name"] for c in account if test_name.match(c["name"]) and c.get("last_modified", "") < an_hour_ago]
removed = 0
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    for name, content in sorted(pool.map(objects, names), key=lambda listing: len(listing[1])):
        if time.monotonic() > deadline:
            break
        list(pool.map(delete_object, [(name, o) for o in content]))
        if time.monotonic() > deadline:
            break
        try:
            ignoring_404(connection().delete_container, name)
            removed += 1
        except ClientException as error:
            print("%s: %s" % (name, error), file=sys.stderr)
print("removed %d of %d test containers left by earlier runs" % (removed, len(names)))
sys.exit(0 if removed == len(names) else 1)
