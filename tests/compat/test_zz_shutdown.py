"""Last: `shutdown` answers, then the process exits with code 0 (the harness checks the exit)."""
import re


def test_shutdown(api):
    msg = api.shutdown("conformance done")
    assert re.match(r"^shutdown requested by 127\.0\.0\.1:\d+ \[conformance done\]$", msg), msg
