"""netft's one error path: the error family, and the guard every entry point runs through.

A failure the user causes and fixes (config, data, a model folder, a checkpoint, the disk, a
command-line argument) prints one line, `<prog>: error: <what, naming the key/file, and the
fix>`, and exits 2; everything else is a bug and keeps its traceback. NETFT_DEBUG=1 prints the
traceback of a user error too. The entry points: netft-train (netft/train.py), each `netft`
subcommand (netft/cli.py) and `python -m netft.checkpoint`.

The classes keep their homes (ConfigError in netft.config, DataError in netft.data.chat,
CheckpointError in netft.checkpoint, PostError in netft.serving) and derive from NetftError here;
this module imports nothing of netft, so any module can import it.
"""
from __future__ import annotations

import errno
import os
import sys
import traceback


class NetftError(Exception):
    """A failure the user can fix; the message names the key or file and says what to do."""


class UsageError(NetftError, ValueError):
    """A command-line argument that cannot work (`netft ...`); the message names it."""


class ConfigError(NetftError, ValueError):
    """A config that cannot run. The message names the key and the fix. (Defined here, not in
    netft.config, so that a module raising it does not import the config schema: no cycle.)"""


# OS errors a user fixes (a full disk, permissions, a read-only or missing path) rather than
# netft's bugs. FileNotFoundError counts whatever its errno: netft raises it with a message
# only (e.g. `netft report` on a folder without runs).
USER_OS_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM,
                  errno.ENOENT, errno.ENOTDIR, errno.EISDIR)


def _hydra_error(e: BaseException) -> bool:
    """Hydra's composition errors: an unknown group option (method=lorra), a key not in the
    schema, an override that does not parse or has the wrong type."""
    hydra_errors = sys.modules.get("hydra.errors")  # loaded by whoever composes a config
    return hydra_errors is not None and isinstance(e, hydra_errors.HydraException)


def _hydra_text(e: BaseException) -> str:
    """Hydra's message up to its config search path (noise for a typo), with the cause that
    says what was wrong with the value; option lists (one per line) become a comma list."""
    text = str(e).split("Config search path:")[0]
    if getattr(e, "override", None):  # a parse error says where, not which override
        text = f"override {e.override!r}: {text}"
    cause = e.__cause__
    if cause is not None and str(cause).strip() and str(cause) not in text:
        text += ": " + str(cause).split("\n    full_key:")[0]  # omegaconf's key dump follows
    out: list[str] = []
    listing = False  # inside "Available options in 'group':" (one tab-indented name a line)
    for ln in text.splitlines():
        if listing and ln.startswith("\t") and ln.strip():
            out[-1] += (" " if out[-1].endswith(":") else ", ") + ln.strip()
        elif ln.strip():
            out.append(ln.strip())
            listing = ln.strip().startswith("Available options")
    return "".join(ln if not i else (" " if out[i - 1].endswith((".", ":")) else "; ") + ln
                   for i, ln in enumerate(out))


def error_line(e: BaseException) -> str | None:
    """The one-line message (without the prog prefix) for a user-caused failure, or None for a
    bug, which keeps its traceback."""
    if isinstance(e, (NetftError, FloatingPointError)):  # FloatingPointError: a diverged run
        msg = str(e)
    elif _hydra_error(e):
        msg = _hydra_text(e)
    elif isinstance(e, FileNotFoundError):
        msg = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
    elif isinstance(e, OSError) and e.errno in USER_OS_ERRNOS:
        msg = f"{e.filename}: {e.strerror or e}" if e.filename else str(e.strerror or e)
    else:
        return None
    return " ".join(msg.split())


def guard(prog: str, fn, *args, **kwargs):
    """fn(*args, **kwargs); a user error becomes `<prog>: error: ...` on stderr and exit 2."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - sorted into user errors and bugs
        line = error_line(e)
        if line is None:
            raise
        if os.environ.get("NETFT_DEBUG") == "1":
            traceback.print_exc()
        # On a line of its own even when a progress bar was drawn last.
        sys.stdout.flush()
        print(f"\n{prog}: error: {line}", file=sys.stderr)
        raise SystemExit(2) from None
