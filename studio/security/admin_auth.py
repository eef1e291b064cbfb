"""The admin login: signed session cookies, CSRF tokens, back-off and lockout (``/admin``).

Gradio's own ``auth=`` login cannot see who is asking (its password check gets a user name and a
password, nothing else), keeps sessions in one process's memory and sets its cookie with
``SameSite=None``. :class:`AdminGate` replaces it; :func:`install_admin_gate` wraps the mounted
admin app in an ASGI layer that answers every request under the mount first:

- ``GET /admin/login``: a small login form; ``POST /admin/login`` (form fields ``username`` and
  ``password``): on success a session cookie and a CSRF cookie, then a redirect to the admin page.
  ``/admin/logout`` clears both. The login itself carries no CSRF token: there is one account and
  its password is the secret, so a forged login could only log a victim into an account the forger
  already controls; a cross-origin login post is refused anyway (next point).
- Every other path needs a valid session cookie: the page redirects to the form, anything else
  gets 401. Gradio also gets the user through ``auth_dependency``.
- State-changing requests (anything but GET/HEAD/OPTIONS) need the header ``X-Studio-CSRF`` equal
  to the session's CSRF token, and are refused from another origin (``Origin`` not this host, or
  ``Sec-Fetch-Site`` other than ``same-origin``). The admin page learns the token from the
  ``studio_admin_csrf`` cookie: a script injected at the top of the page adds the header to the
  page's own same-origin requests. A page on another origin cannot read the cookie, and a header
  of its own would need a CORS preflight, which is refused.
- No response under ``/admin`` carries ``Access-Control-Allow-*`` headers, so a page on any other
  origin (``localhost:*`` included) never reads an admin response with credentials.

Cookies: ``HttpOnly`` (the session), ``SameSite=Strict``, ``Path=/admin``, ``Secure`` when the
request came over HTTPS (directly, or ``X-Forwarded-Proto`` from a trusted proxy). A session is
``<payload>.<mac>``: ``{"i": issued unix s, "n": random nonce}`` signed with a key derived from
the admin token, valid :data:`SESSION_MAX_AGE_S` in every process that has the token (changing the
token ends every session). The CSRF token is a MAC of the nonce.

Failed logins (:class:`LoginPolicy`) are counted per client address and over all clients, in the
study database when there is one (so every process serving it shares them), else in memory. Each
attempt is recorded as a failure *before* the password is checked, in one locked transaction, so
concurrent guesses cannot slip past the count; a correct password then clears that client's
failures. Past the thresholds an attempt is refused with 429 and ``Retry-After`` without the
password being looked at.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studio.security.clients import request_client
from studio.security.rates import MemoryRateLog
from studio.security.tokens import Signer

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "LOGIN_SCOPE",
    "SESSION_COOKIE",
    "AdminGate",
    "LoginPolicy",
    "install_admin_gate",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "studio_admin"
CSRF_COOKIE = "studio_admin_csrf"
CSRF_HEADER = "x-studio-csrf"
LOGIN_SCOPE = "admin_login"
SESSION_MAX_AGE_S = 12 * 3600
MAX_LOGIN_BODY = 4096
_SAFE = ("GET", "HEAD", "OPTIONS")
_CORS_HEADERS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
)


class RateLog(Protocol):
    """Where rate hits live: :class:`~studio.study.storage.StudyStore` or :class:`MemoryRateLog`."""

    def rate_attempt(self, scope: str, client: str, policy: Any, retention_s: float) -> float: ...

    def rate_clear(self, scope: str, client: str) -> int: ...


@dataclass(frozen=True)
class LoginPolicy:
    """When failed logins slow down and lock out (``STUDIO_ADMIN_*``, see the config).

    Per client, counting failures within the last ``lockout_s``: below ``backoff_after`` nothing;
    from there each attempt waits ``base_s * 2**(failures - backoff_after)`` after the newest
    failure; from ``lockout_after`` on it waits ``lockout_s`` (by then every counted failure has
    aged out, so the count starts again from zero). Over all clients the same, with back-off from
    half of ``global_lockout_after`` and lockout from all of it."""

    backoff_after: int = 5
    lockout_after: int = 10
    lockout_s: float = 900.0
    global_lockout_after: int = 100
    base_s: float = 1.0

    def _wait(self, hits: Any, per_client: bool, backoff_after: int, lockout_after: int) -> float:
        failures = hits.count(self.lockout_s, per_client=per_client)
        if failures < backoff_after:
            return 0.0
        newest = hits.age_s(1, self.lockout_s, per_client=per_client) or 0.0
        if failures >= lockout_after:
            delay = self.lockout_s
        else:
            delay = min(self.base_s * 2.0 ** (failures - backoff_after), self.lockout_s)
        return delay - newest

    def wait_s(self, hits: Any) -> float:
        """Seconds before this client may try again (<= 0: now)."""
        mine = self._wait(hits, True, self.backoff_after, self.lockout_after)
        everyone = self._wait(hits, False, max(1, self.global_lockout_after // 2), self.global_lockout_after)
        return max(mine, everyone)


class AdminGate:
    """Sessions, CSRF tokens and rate-limited logins for the admin mount (module docstring).

    ``token``: the admin token (the password; sessions are signed with a key derived from it);
    ``check``: ``(username, password) -> bool``; ``rates``: where failed logins are counted;
    ``trusted_proxy_hops``: see :func:`studio.security.clients.client_address`."""

    def __init__(
        self,
        token: str,
        check: Callable[[str, str], bool],
        rates: RateLog,
        *,
        policy: LoginPolicy | None = None,
        trusted_proxy_hops: int = 0,
        session_max_age_s: float = SESSION_MAX_AGE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = Signer(token.encode("utf-8"), b"studio-admin-session-v2")
        self._csrf = Signer(token.encode("utf-8"), b"studio-admin-csrf-v2")
        self._check = check
        self.rates = rates
        self.policy = policy or LoginPolicy()
        self.trusted_proxy_hops = trusted_proxy_hops
        self._max_age = session_max_age_s
        self._clock = clock

    @classmethod
    def from_config(cls, config: Any, store: Any, check: Callable[[str, str], bool]) -> AdminGate | None:
        """The gate for a :class:`~studio.config.StudioConfig` (None without an admin token);
        failed logins go to ``store`` (the study database) when there is one."""
        if config.admin_token is None:
            return None
        policy = LoginPolicy(
            config.admin_backoff_after,
            config.admin_lockout_after,
            float(config.admin_lockout_s),
            config.admin_global_lockout_after,
        )
        rates = store if store is not None else MemoryRateLog()
        return cls(
            config.admin_token, check, rates, policy=policy, trusted_proxy_hops=config.trusted_proxy_hops
        )

    # -- tokens ----------------------------------------------------------------------------------
    def new_session(self) -> tuple[str, str]:
        """A fresh ``(session cookie value, CSRF token)``."""
        nonce = secrets.token_urlsafe(16)
        return self._sessions.sign({"i": int(self._clock()), "n": nonce}), self._csrf.mac(nonce)

    def _nonce(self, cookie: str | None) -> str | None:
        """The nonce of a valid, unexpired session cookie, else None."""
        data = self._sessions.verify(cookie)
        if data is None:
            return None
        try:
            issued, nonce = float(data["i"]), str(data["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if not 0 <= self._clock() - issued <= self._max_age:
            return None
        return nonce

    def user(self, request: Any) -> str | None:
        """Gradio's ``auth_dependency``: ``"admin"`` for a request with a valid session cookie."""
        return "admin" if self._nonce(request.cookies.get(SESSION_COOKIE)) is not None else None

    def csrf_ok(self, cookie: str | None, header: str | None) -> bool:
        nonce = self._nonce(cookie)
        return nonce is not None and header is not None and hmac.compare_digest(header, self._csrf.mac(nonce))

    def client(self, scope: Scope) -> str:
        return request_client(Request(scope), self.trusted_proxy_hops)

    # -- logins ----------------------------------------------------------------------------------
    def login(self, client: str, username: str, password: str) -> tuple[bool, float]:
        """One login attempt: ``(ok, retry_after_s)``. Refused without looking at the password
        while the client (or everyone) is backed off or locked out (``retry_after_s`` > 0)."""
        wait = self.rates.rate_attempt(LOGIN_SCOPE, client, self.policy.wait_s, self.policy.lockout_s)
        if wait > 0:
            log.warning("admin login from %s refused for %.0f s (too many failures)", client, wait)
            return False, wait
        if self._check(username, password):
            self.rates.rate_clear(LOGIN_SCOPE, client)  # the attempt counted above, and earlier ones
            return True, 0.0
        log.warning("failed admin login from %s", client)
        return False, 0.0


# ----------------------------------------------------------------------------------------------
# the ASGI layer
# ----------------------------------------------------------------------------------------------

# Runs before Gradio's own scripts: adds the CSRF header to the page's state-changing requests to
# its own origin (Gradio's client calls window.fetch at request time; uploads may use XHR).
CSRF_SCRIPT = """<script>(() => {
  const name = "__HEADER__", cookie = "__COOKIE__=";
  const token = () =>
    (document.cookie.split("; ").find((c) => c.startsWith(cookie)) || "").slice(cookie.length);
  const unsafe = (m) => !["GET", "HEAD", "OPTIONS"].includes(String(m || "GET").toUpperCase());
  const mine = (u) => {
    try { return new URL(u, location.href).origin === location.origin; } catch { return false; }
  };
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    const isRequest = input instanceof Request;
    const method = (init && init.method) || (isRequest ? input.method : "GET");
    if (unsafe(method) && mine(isRequest ? input.url : String(input))) {
      const headers = new Headers((init && init.headers) || (isRequest ? input.headers : undefined));
      headers.set(name, token());
      init = Object.assign({}, init, { headers });
    }
    return fetch0.call(this, input, init);
  };
  const open0 = XMLHttpRequest.prototype.open, send0 = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.__studioCsrf = unsafe(method) && mine(url);
    return open0.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (body) {
    if (this.__studioCsrf) this.setRequestHeader(name, token());
    return send0.call(this, body);
  };
})();</script>""".replace("__HEADER__", "X-Studio-CSRF").replace("__COOKIE__", CSRF_COOKIE)

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Expression Studio admin: log in</title>
<style>
body { font-family: system-ui, sans-serif; background: #f6f7f9; margin: 0; }
main { max-width: 360px; margin: 12vh auto; background: #fff; padding: 2em; border-radius: 10px;
       box-shadow: 0 2px 10px rgba(0,0,0,.08); }
h1 { font-size: 1.2em; margin: 0 0 1em; } label { display: block; margin: .8em 0 .3em; }
input { width: 100%%; box-sizing: border-box; padding: .5em; font-size: 1em; }
button { margin-top: 1.2em; width: 100%%; padding: .6em; font-size: 1em; cursor: pointer; }
.error { color: #b00020; } .note { color: #666; font-size: .9em; }
</style></head>
<body><main>
<h1>Expression Studio admin</h1>
%(message)s
<form method="post" action="%(action)s">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" value="admin" required>
<label for="password">Password (the admin token)</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Login</button>
</form>
<p class="note">User <code>admin</code>; the password is the server's <code>STUDIO_ADMIN_TOKEN</code>.</p>
</main></body></html>
"""


def _base(scope: Scope) -> str:
    """The mount's path as the browser sees it (``/admin``), for redirects and the form's action."""
    return str(scope.get("root_path", "")).rstrip("/")


def _cookie(
    name: str, value: str, *, secure: bool, http_only: bool = True, max_age: int | None = None
) -> str:
    parts = [f"{name}={value}", "Path=/admin", "SameSite=Strict"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


class _Reply:
    """A small response: status, headers (list of pairs) and body."""

    def __init__(self, status: int, body: bytes | str = b"", content_type: str = "text/plain") -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers: list[tuple[str, str]] = [("content-type", content_type)]

    @classmethod
    def json(cls, status: int, error: str, message: str, **extra: Any) -> _Reply:
        payload = {"error": error, "message": message, **extra}
        return cls(status, json.dumps(payload), "application/json")

    async def __call__(self, send: Send) -> None:
        headers = [*self.headers, ("content-length", str(len(self.body))), *_PAGE_HEADERS]
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


# the admin is never framed by another site, never cached, never leaks its URL to another origin
_PAGE_HEADERS = (
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
)


class AdminGuard:
    """The ASGI layer in front of the mounted admin app (see the module docstring)."""

    def __init__(self, app: ASGIApp, gate: AdminGate) -> None:
        self.app, self.gate = app, gate

    # -- helpers ---------------------------------------------------------------------------------
    def _secure(self, scope: Scope, headers: Headers) -> bool:
        if scope.get("scheme") == "https":
            return True
        forwarded = headers.get("x-forwarded-proto", "")
        return self.gate.trusted_proxy_hops > 0 and forwarded.split(",")[-1].strip().lower() == "https"

    def _same_origin(self, headers: Headers) -> bool:
        """False for a request a browser marks as coming from another origin."""
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = headers.get("origin")
        if origin is None:
            return True
        hosts = {headers.get("host", "").lower()}
        if self.gate.trusted_proxy_hops > 0 and headers.get("x-forwarded-host"):
            hosts.add(headers["x-forwarded-host"].split(",")[-1].strip().lower())
        return urlsplit(origin).netloc.lower() in hosts

    @staticmethod
    def _route(scope: Scope) -> str:
        path, root = scope.get("path", ""), scope.get("root_path", "")
        route = path[len(root) :] if root and path.startswith(root) else path
        return route or "/"

    # -- ASGI ------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # Gradio uses none here; never one without a session
            headers = Headers(scope=scope)
            cookie = Request(scope).cookies.get(SESSION_COOKIE)
            if self.gate._nonce(cookie) is None or not self._same_origin(headers):
                await send({"type": "websocket.close", "code": 1008})
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method, route = scope["method"].upper(), self._route(scope)
        if route.rstrip("/") == "/login":
            reply = await self._login(scope, receive, headers) if method == "POST" else self._form(scope)
            await reply(send)
            return
        if route.rstrip("/") == "/logout":
            await self._logout(scope, headers)(send)
            return
        cookie = Request(scope).cookies.get(SESSION_COOKIE)
        if self.gate._nonce(cookie) is None:
            if method in ("GET", "HEAD") and route == "/":
                reply = _Reply(303)
                reply.headers.append(("location", _base(scope) + "/login"))
            else:
                reply = _Reply.json(401, "not_authenticated", "Log in at /admin/login first.")
            await reply(send)
            return
        if method not in _SAFE:
            if not self._same_origin(headers):
                await _Reply.json(403, "cross_origin", "Cross-origin requests to the admin are refused.")(
                    send
                )
                return
            if not self.gate.csrf_ok(cookie, headers.get(CSRF_HEADER)):
                await _Reply.json(403, "csrf", "Missing or wrong CSRF token; reload the admin page.")(send)
                return
        if method == "GET" and route == "/":
            await self._page(scope, receive, send)
            return
        await self.app(scope, receive, self._strip_cors(send))

    @staticmethod
    def _strip_cors(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name in _CORS_HEADERS:
                    del headers[name]
                for name, value in _PAGE_HEADERS[1:]:
                    headers.setdefault(name, value)
            await send(message)

        return wrapped

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The admin page, with :data:`CSRF_SCRIPT` as the first thing in its head."""
        # ask for an uncompressed page so the script can be inserted into it
        plain = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"])
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._send_page(start, b"".join(chunks), send)

        await self.app(plain, receive, capture)

    async def _send_page(self, start: dict[str, Any], body: bytes, send: Send) -> None:
        headers = MutableHeaders(raw=list(start.get("headers", [])))
        if headers.get("content-type", "").startswith("text/html") and "content-encoding" not in headers:
            body = body.replace(b"<head>", b"<head>" + CSRF_SCRIPT.encode("utf-8"), 1)
            headers["content-length"] = str(len(body))
        for name in _CORS_HEADERS:
            del headers[name]
        for name, value in _PAGE_HEADERS:
            headers[name] = value
        await send(
            {"type": "http.response.start", "status": start.get("status", 200), "headers": headers.raw}
        )
        await send({"type": "http.response.body", "body": body})

    # -- login / logout --------------------------------------------------------------------------
    def _form(self, scope: Scope, message: str = "", status: int = 200) -> _Reply:
        page = LOGIN_PAGE % {"message": message, "action": _base(scope) + "/login"}
        return _Reply(status, page, "text/html; charset=utf-8")

    async def _login(self, scope: Scope, receive: Receive, headers: Headers) -> _Reply:
        if not self._same_origin(headers):
            return _Reply.json(403, "cross_origin", "Cross-origin logins are refused.")
        body, too_large = b"", False
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_LOGIN_BODY:
                too_large = True
                break
            if not message.get("more_body", False):
                break
        if too_large:
            return _Reply.json(413, "request_too_large", "Request too large.")
        fields = {
            k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        client = self.gate.client(scope)
        ok, wait = await run_in_threadpool(
            self.gate.login, client, fields.get("username", "").strip(), fields.get("password", "")
        )
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            text = f'<p class="error">Too many failed logins. Try again in {seconds} seconds.</p>'
            reply = self._form(scope, text, 429)
            reply.headers.append(("retry-after", str(seconds)))
            return reply
        if not ok:
            return self._form(scope, '<p class="error">Incorrect credentials.</p>', 401)
        session, csrf = self.gate.new_session()
        secure = self._secure(scope, headers)
        reply = _Reply(303)
        reply.headers += [
            ("location", _base(scope) + "/"),
            ("set-cookie", _cookie(SESSION_COOKIE, session, secure=secure, max_age=int(self.gate._max_age))),
            (
                "set-cookie",
                _cookie(CSRF_COOKIE, csrf, secure=secure, http_only=False, max_age=int(self.gate._max_age)),
            ),
        ]
        return reply

    def _logout(self, scope: Scope, headers: Headers) -> _Reply:
        secure = self._secure(scope, headers)
        reply = _Reply(303)
        reply.headers += [("location", _base(scope) + "/login")] + [
            ("set-cookie", _cookie(name, "", secure=secure, max_age=0))
            for name in (SESSION_COOKIE, CSRF_COOKIE)
        ]
        return reply


def install_admin_gate(server: Any, gate: AdminGate | None, path: str = "/admin") -> None:
    """Put :class:`AdminGuard` in front of the app mounted at ``path`` on ``server`` (call it after
    mounting; without a gate, i.e. no admin token, the mount is left as it is)."""
    if gate is None:
        return
    for route in server.router.routes:
        if isinstance(route, Mount) and route.path == path.rstrip("/"):
            route.app = AdminGuard(route.app, gate)
            return
    raise ValueError(f"nothing is mounted at {path}")
