"""What keeps a public studio safe: which files leave the server, who may call what, how often.

- :mod:`studio.security.files`: file access closed by construction for every mounted Gradio app
  (only this app's uploads go into handlers; only files this app handed out are served).
- :mod:`studio.security.http`: the Host allow-list (DNS rebinding) and the same-origin CORS policy.
- :mod:`studio.security.admin_auth`: the admin login (back-off, lockout, CSRF, strict cookies).
- :mod:`studio.security.clients` and :mod:`studio.security.rates`: which client sent a request,
  and sliding-window rate hits kept in memory.
"""
