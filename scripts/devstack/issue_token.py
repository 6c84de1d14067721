"""Issues a Keystone v3 token for the OS_* user in the environment (scripts/dev-stack.sh env ...).

usage: issue_token.py HEADER_FILE   writes "X-Auth-Token: ..." to HEADER_FILE (mode 600) and
                                    prints the object-store public URL
       issue_token.py               prints the token alone (callers redirect it to a 600 file)
Tokens and passwords never go on a command line.
"""
import json
import os
import sys
import urllib.request

body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": os.environ["OS_USERNAME"], "domain": {"name": os.environ.get("OS_USER_DOMAIN_NAME", "Default")},
    "password": os.environ["OS_PASSWORD"]}}},
    "scope": {"project": {"name": os.environ["OS_PROJECT_NAME"],
                          "domain": {"name": os.environ.get("OS_PROJECT_DOMAIN_NAME", "Default")}}}}}
request = urllib.request.Request(os.environ["OS_AUTH_URL"] + "/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request) as response:
    token = response.headers["X-Subject-Token"]
    catalog = json.load(response)["token"]["catalog"]

if len(sys.argv) < 2:
    print(token)
    sys.exit(0)
url = [e["url"] for s in catalog if s["type"] == "object-store" for e in s["endpoints"] if e["interface"] == "public"][0]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, ("X-Auth-Token: " + token + "\n").encode())
os.close(fd)
print(url)
