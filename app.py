"""Expression Studio entry point: build the config, build the server, run it. Nothing else.

The server (studio.server) holds the studio at /, the participant page at /study, the study JSON
API at /study/api and the admin pages at /admin; it never creates a share link.
"""

from studio.server import main

if __name__ == "__main__":
    raise SystemExit(main())
