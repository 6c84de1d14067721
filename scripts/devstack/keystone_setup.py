"""Creates the dev stack's Keystone users, projects, roles and the object-store endpoint.

Reads passwords from the environment (never from argv). Idempotent: existing objects are reused.
"""
import json
import os
import urllib.error
import urllib.request

KS = os.environ["KS_URL"]  # http://127.0.0.1:5000/v3
SWIFT_URL = os.environ["SWIFT_PUBLIC_URL"]  # http://127.0.0.1:8080


def call(method, path, body=None, token=None):
    req = urllib.request.Request(KS + path, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(req, data=data, timeout=30) as resp:
        raw = resp.read()
        return resp, (json.loads(raw) if raw else None)


def admin_token():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"},
        "password": os.environ["ADMIN_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp, _ = call("POST", "/auth/tokens", body)
    return resp.headers["X-Subject-Token"]


TOKEN = admin_token()


def find(collection, key, name):
    _, out = call("GET", f"/{collection}?name={name}", token=TOKEN)
    items = out[key]
    return items[0]["id"] if items else None


def ensure(collection, key, singular, body):
    found = find(collection, key, body["name"])
    if found:
        return found
    _, out = call("POST", f"/{collection}", {singular: body}, token=TOKEN)
    return out[singular]["id"]


def grant(project_id, user_id, role_id):
    call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{role_id}", token=TOKEN)


member = ensure("roles", "roles", "role", {"name": "member"})
admin = ensure("roles", "roles", "role", {"name": "admin"})
ensure("roles", "roles", "role", {"name": "ResellerAdmin"})

service_project = ensure("projects", "projects", "project",
                         {"name": "service", "domain_id": "default"})
demo_project = ensure("projects", "projects", "project",
                      {"name": "demo", "domain_id": "default"})

users = {
    "demo": (demo_project, os.environ["DEMO_PASSWORD"], member),
    "service": (service_project, os.environ["SERVICE_PASSWORD"], member),
    "swift": (service_project, os.environ["SWIFT_PASSWORD"], admin),
}
for name, (project, password, role) in users.items():
    uid = ensure("users", "users", "user", {"name": name, "domain_id": "default",
                                            "password": password,
                                            "default_project_id": project})
    grant(project, uid, role)

svc = ensure("services", "services", "service", {"name": "swift", "type": "object-store"})
_, eps = call("GET", f"/endpoints?service_id={svc}", token=TOKEN)
have = {e["interface"] for e in eps["endpoints"]}
for interface in ("public", "internal", "admin"):
    if interface not in have:
        call("POST", "/endpoints", {"endpoint": {
            "service_id": svc, "interface": interface, "region_id": "RegionOne",
            "url": SWIFT_URL + "/v1/AUTH_$(project_id)s"}}, token=TOKEN)
print("keystone setup done")
