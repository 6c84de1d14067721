"""Creates N 1-byte objects under big/ in CONTAINER as swiftmount would write them (mtime, ctime
and mode in X-Object-Meta-* and as Content-Type parameters), 16 requests at a time, with the dev
stack's credentials from the environment. Used by scripts/bigdir.sh."""
import http.client, json, os, sys, threading, time, urllib.parse, urllib.request

container, count = sys.argv[1], int(sys.argv[2])
auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": os.environ["OS_USERNAME"], "domain": {"name": os.environ.get("OS_USER_DOMAIN_NAME", "Default")},
    "password": os.environ["OS_PASSWORD"]}}},
    "scope": {"project": {"name": os.environ["OS_PROJECT_NAME"], "domain": {"name": os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default")}}}}}


def authenticate():
    request = urllib.request.Request(os.environ["OS_AUTH_URL"] + "/auth/tokens", data=json.dumps(auth).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return answer.headers["X-Subject-Token"], json.loads(answer.read())["token"]["catalog"]

# The dev stack's tokens may live seconds: a 401 fetches a new one and the PUT is sent again.
token, catalog = authenticate()
token_lock = threading.Lock()
url = urllib.parse.urlparse(next(e["url"] for s in catalog if s["type"] == "object-store"
                                 for e in s["endpoints"] if e["interface"] == "public"))
now = time.time()
failures = []

def put(first):
    global token
    connection = http.client.HTTPConnection(url.hostname, url.port)
    for i in range(first, count, 16):
        mtime = "%d.%09d" % (int(now) - i, i)
        # Stamped at each PUT, as the mount does: the listing's time must be close to it.
        ctime = "%.9f" % time.time()
        headers = {"X-Auth-Token": token, "X-Object-Meta-Mtime": mtime, "X-Object-Meta-Ctime": ctime,
                   "Content-Type": "application/octet-stream;swiftmount=1;mtime=%s;ctime=%s" % (mtime, ctime)}
        while True:
            sent_with = token
            headers["X-Auth-Token"] = sent_with
            connection.request("PUT", "%s/%s/big/f%07d" % (url.path, container, i), body=b"x", headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 401:
                break
            with token_lock:
                if token == sent_with:
                    token = authenticate()[0]
        if answer.status != 201:
            failures.append(answer.status)
            return

connection = http.client.HTTPConnection(url.hostname, url.port)
connection.request("PUT", "%s/%s" % (url.path, container), headers={"X-Auth-Token": token})
connection.getresponse().read()
threads = [threading.Thread(target=put, args=(k,)) for k in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failures:
    sys.exit("PUT failed: %s" % failures[:5])
