"""The example blog, for the live servers: its database path from BLOG_DATABASE."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "blog"))

from blog import create_app

app = create_app(
    {
        "DATABASE": os.environ["BLOG_DATABASE"],
        "SECRET_KEY": "live blog",
        # A cheap hash keeps the test fast; the blog's default is scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
)
