"""Expression Studio entry point: build the config, build the app, launch. Nothing else."""

from studio.config import StudioConfig
from studio.ui import build_app, launch_kwargs

config = StudioConfig.from_env()
demo = build_app(config)

if __name__ == "__main__":
    demo.launch(**launch_kwargs(config))
