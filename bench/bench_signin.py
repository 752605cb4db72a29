"""Sign-in timing: a wrong password for an existing user against an unknown username (issue 12: 80 ms vs 6 ms
made usernames enumerable). Real password hashing, the app's own sign-in form through the test client.

    .venv/bin/python bench/bench_signin.py

Prints the median of each and their ratio (goal: within 20%, i.e. a ratio between 0.8 and 1.2).
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from domain.core import accounts  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import Role  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "21"))


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        os.environ["INSTANCE_PATH"] = folder
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db", "WTF_CSRF_ENABLED": False,
                          "RATELIMIT_ENABLED": False})
        with app.app_context():
            db.create_all()
            accounts.create_user("known-user", "the-right-password", Role.TECHNICIAN, via="cli")
            db.session.commit()
        client = app.test_client()

        def attempt(username: str) -> float:
            start = time.perf_counter()
            response = client.post("/auth/login", data={"username": username, "password": "a-wrong-password"})
            assert response.status_code == 400
            return time.perf_counter() - start

        attempt("known-user")  # warm up (templates, the dummy hash)
        attempt("nobody")
        known, unknown = [], []
        for _ in range(ROUNDS):
            known.append(attempt("known-user"))
            unknown.append(attempt("nobody"))
        k, u = statistics.median(known), statistics.median(unknown)
        print(f"wrong password, existing user: median {k * 1000:.1f} ms over {ROUNDS}")
        print(f"unknown username:              median {u * 1000:.1f} ms over {ROUNDS}")
        print(f"ratio unknown / existing: {u / k:.2f} (goal 0.80-1.20)")


if __name__ == "__main__":
    main()
