"""Root conftest: environment every test run needs (the harness plugin itself comes via its entry point)."""

import os

os.environ.setdefault("PACT_DO_NOT_TRACK", "true")
