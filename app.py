"""Expression Studio entry point: build the config, build the server, run it. Nothing else.

The server (studio.server) holds the studio at /, the participant page at /study, the study JSON
API at /study/api and the admin pages at /admin; it never creates a share link.
"""

from studio.config import StudioConfig
from studio.server import serve

if __name__ == "__main__":
    serve(StudioConfig.from_env())
