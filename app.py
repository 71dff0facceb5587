"""Start the service: `python app.py [serve options]` builds the app through the factory and serves it under
waitress."""

import sys

from registry.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
