"""Schemathesis hooks for tests/fuzz_api.rs: fresh single-use values for the operations that
spend them.

Some operations take a value that works once, or only in a state a generated request cannot
make: a page link opens once, an OAuth state is consumed by its callback, a rotated API key is
gone, a target resolves only while unconfirmed. A fixed fixture serves the first request and
every later one is refused, so what the fuzzing learns about such an operation is its refusal.
Before each positive request to one of them, this makes a fresh value through the API (or a
test power) and puts it in; negative requests keep what was generated. Fields no schema can say
(an allow-listed return URL, a configured provider, the page's CSRF token) are set the same way.

The fixtures come from the JSON file EVERGREEN_FUZZ_FIXTURES names (written by the test).
"""

import http.client
import json
import os
import secrets
import urllib.parse

import schemathesis
from schemathesis.generation.modes import GenerationMode

FIXTURES = json.load(open(os.environ["EVERGREEN_FUZZ_FIXTURES"], encoding="utf-8"))
BASE = urllib.parse.urlsplit(FIXTURES["base_url"])


def request(method, target, authorization=None, body=None, attempt=1):
    """One request to the worker, redirects not followed: (status, headers, JSON body or None)."""
    connection = http.client.HTTPConnection(BASE.hostname, BASE.port, timeout=30)
    headers = {}
    if authorization:
        headers["Authorization"] = authorization
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, target, body=data, headers=headers)
        answer = connection.getresponse()
        text = answer.read()
        # wrangler's dev proxy loses a request now and then (tests/common, Worker::call).
        if (answer.status == 503 and text.startswith(b"Your worker restarted mid-request")
                and attempt < 3):
            return request(method, target, authorization, body, attempt + 1)
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, parsed
    finally:
        connection.close()


def made(status, expected, what, body):
    if status != expected:
        raise RuntimeError(f"fuzz_hooks: making {what} answered {status}: {body}")


def path_of(url):
    parts = urllib.parse.urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def page_token():
    status, _, body = request("POST", "/v1/page-links", FIXTURES["key"],
                              {"end_user_ref": FIXTURES["end_user_ref"]})
    made(status, 201, "a page link", body)
    return body["url"].rsplit("/", 1)[1]


def oauth_state():
    """A connect session opened as a browser would: its state, and the binding cookie."""
    status, _, body = request("POST", "/v1/connect-sessions", FIXTURES["key"], {
        "provider": "x", "end_user_ref": FIXTURES["end_user_ref"],
        "return_url": FIXTURES["return_url"]})
    made(status, 201, "a connect session", body)
    status, headers, body = request("GET", path_of(body["url"]))
    made(status // 100, 3, "the connect redirect", body)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["location"]).query)
    cookie = headers.get("set-cookie", "").split(";", 1)[0]
    return query["state"][0], cookie


def api_key():
    status, _, body = request("POST", f"/admin/tenants/{FIXTURES['admin_tenant']}/api-keys",
                              FIXTURES["operator"], {"scopes": ["manage"]})
    made(status, 201, "an API key", body)
    return body["id"]


def unconfirmed_target():
    # A new batch name each time (the seeding refuses one it has seen).
    batch = f"fz{secrets.token_hex(6)}"
    path = (f"/__test/tenants/{FIXTURES['tenant']}/connections/{FIXTURES['connection']}"
            "/seeded-posts")
    status, _, body = request("POST", path, FIXTURES["operator"],
                              {"batch": batch, "count": 1, "state": "unconfirmed"})
    made(status, 200, "an unconfirmed target", body)
    return f"post_{batch}000001", f"tgt_{batch}000001"


def set_state(case):
    state, cookie = oauth_state()
    case.query = dict(case.query or {}, state=state)
    if cookie:
        case.headers = dict(case.headers or {}, Cookie=cookie)


def set_target(case):
    post_id, target_id = unconfirmed_target()
    case.path_parameters = dict(case.path_parameters, post_id=post_id, target_id=target_id)


def set_connect_fields(case):
    if isinstance(case.body, dict):
        case.body["return_url"] = FIXTURES["return_url"]
        if case.body.get("provider") not in FIXTURES["providers"]:
            case.body["provider"] = "x"


MAKERS = {
    "GET /page/open/{token}":
        lambda case: case.path_parameters.update(token=page_token()),
    "GET /oauth/callback": set_state,
    "POST /admin/api-keys/{key_id}/rotate":
        lambda case: case.path_parameters.update(key_id=api_key()),
    "POST /v1/posts/{post_id}/targets/{target_id}/resolve": set_target,
    "POST /page/posts/{post_id}/targets/{target_id}/resolve": set_target,
    "POST /v1/connect-sessions": set_connect_fields,
}


@schemathesis.hook
def before_call(context, case, kwargs):
    meta = case.meta
    if meta is None or meta.generation.mode != GenerationMode.POSITIVE:
        return
    label = case.operation.label
    maker = MAKERS.get(label)
    if maker is not None:
        maker(case)
    # The page's forms carry its CSRF token.
    if label.startswith("POST /page/") and isinstance(case.body, dict):
        case.body["csrf"] = FIXTURES["csrf"]
