"""A check's pass, remembered under a digest of everything the check read, with cargo's shared
output (scripts/env.sh), so that a later run on the same inputs (a fresh clone included) answers
the pass again instead of redoing the check. Used by scripts/module-cycles and
scripts/query-plans."""
import hashlib
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digest(paths, extra=b""):
    """The digest of the files at `paths` (relative to the checkout), names and contents, and
    of `extra`."""
    h = hashlib.sha256()
    for rel in paths:
        h.update(rel.encode() + b"\0")
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(f.read() + b"\0")
    h.update(extra)
    return h.hexdigest()


def _file(name):
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, f"{name}.pass")


def recall(name, key):
    """The summary of check `name`'s last pass if it was under `key`, else None."""
    try:
        with open(_file(name)) as f:
            remembered, summary = f.read().split("\n", 1)
    except (OSError, ValueError):
        return None
    return summary.strip() if remembered == key else None


def remember(name, key, summary):
    path = _file(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"{key}\n{summary}\n")
