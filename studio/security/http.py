"""Who may talk to the server: the Host allow-list and the cross-origin policy.

- **Host**: a page on an attacker's domain can rebind that domain's DNS to 127.0.0.1 and then
  call a studio listening on loopback as if same-origin. Browsers still send the attacker's name
  in ``Host``, so a studio on loopback answers only requests naming a loopback host (plus any in
  ``STUDIO_ALLOWED_HOSTS``). A studio listening on every interface (a Space) is public anyway;
  ``STUDIO_ALLOWED_HOSTS`` pins its names when set.
- **CORS**: same origin only, never with credentials. Gradio adds a CORS layer of its own that
  answers credentialed requests from any ``localhost:*`` origin (and from any origin when the
  server is not on localhost) unless the parent app configures ``CORSMiddleware``; this does.
"""

from __future__ import annotations

import ipaddress

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def is_loopback(host: str) -> bool:
    """Is ``host`` (what the server binds to) a loopback name or address?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, extra: tuple[str, ...] = ()) -> list[str]:
    """``Host`` header names the server answers to (``["*"]``: any)."""
    if extra:
        return [*LOOPBACK_NAMES, *extra]
    if is_loopback(bind_host):
        return list(dict.fromkeys([*LOOPBACK_NAMES, bind_host]))
    return ["*"]


def add_request_policies(server: FastAPI, bind_host: str, extra_hosts: tuple[str, ...] = ()) -> None:
    """Install the Host allow-list (outermost) and the same-origin CORS policy on ``server``."""
    # no origins: preflights are refused and no response carries Access-Control-Allow-* headers
    server.add_middleware(CORSMiddleware, allow_origins=[], allow_credentials=False)
    server.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(bind_host, extra_hosts))
