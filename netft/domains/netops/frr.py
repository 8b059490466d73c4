"""FRR configs checked by FRR's own parser: `vtysh -C -f FILE` (dry run, no daemon needed),
plus the holes in it that we close by hand (see _frr_holes)."""
from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import tempfile
import threading

from netft.domains.netops.cli_grammar import is_ipv4 as _is_ipv4
from netft.domains.netops.verdict import Verdict

VTYSH_TIMEOUT_S = 10
# The FRR version the verifier is pinned to: Debian 12's frr, and the topotests tag of the
# real-config corpus. Another vtysh checks another grammar: frr_version() says which one ran,
# so a config valid only in newer FRR is reported as refused by *this* version.
PINNED_FRR = "8.4.4"
# --------------------------------------------------------------------------- vtysh (FRR)

_cfg_dir: str | None = None
_cfg_lock = threading.Lock()


def vtysh_path() -> str | None:
    return shutil.which("vtysh") or (os.path.exists("/usr/bin/vtysh") and "/usr/bin/vtysh") or None


@functools.lru_cache(maxsize=1)
def frr_version() -> str | None:
    """The FRR version of the vtysh on PATH ("8.4.4"), from `vtysh --help`."""
    exe = vtysh_path()
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--help"], capture_output=True, text=True,
                             timeout=VTYSH_TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out)
    return m.group(1) if m else None


def have_vtysh() -> bool:
    return vtysh_path() is not None


def _config_dir() -> str:
    """A private --config_dir holding an empty vtysh.conf.

    Measured: with --config_dir vtysh reads only DIR/vtysh.conf and the -f file; it never
    opens /etc/frr (mode 0750 frr:frr, so an unprivileged user would otherwise get a
    "Can't open configuration file" line in the output). Works as root and as nobody.
    """
    global _cfg_dir
    with _cfg_lock:
        if _cfg_dir is None:
            d = tempfile.mkdtemp(prefix="netft-vtysh-")
            open(os.path.join(d, "vtysh.conf"), "w").close()
            atexit.register(shutil.rmtree, d, True)
            _cfg_dir = d
        return _cfg_dir


_VTYSH_ERR = re.compile(r"^line (\d+): % ([^:\[]+?)(?:\[\d+\])?:\s*(.*)$")


@functools.lru_cache(maxsize=8192)
def _vtysh_errors(text: str) -> tuple[str, ...]:
    """vtysh's complaints about `text`, one string per problem; () when it is valid.

    Cached: the scorer and the tests verify the same reference text more than once, and
    each vtysh start costs ~30 ms.
    """
    exe = vtysh_path()
    if exe is None:
        raise RuntimeError("vtysh not found: install FRRouting's shell, Debian package `frr` "
                           "(apt-get install frr)")
    d = _config_dir()
    fd, path = tempfile.mkstemp(suffix=".conf", dir=d)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
        try:
            p = subprocess.run([exe, "--config_dir", d, "-C", "-f", path], capture_output=True,
                               text=True, timeout=VTYSH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return (f"vtysh did not finish within {VTYSH_TIMEOUT_S} s",)
    finally:
        os.unlink(path)
    out = [ln.rstrip() for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
    if p.returncode == 0 and not out:
        return ()
    errs = []
    for ln in out:
        m = _VTYSH_ERR.match(ln)
        errs.append(f"line {m.group(1)}: {m.group(2).strip()}: {m.group(3).strip()}" if m else ln)
    return tuple(errs) or (f"vtysh exited with status {p.returncode}",)


_DOTTED = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


_COMMUNITY = re.compile(r"(?:\d{1,5}:\d{1,5}|internet|local-AS|no-export|no-advertise|"
                        r"no-peer|blackhole|graceful-shutdown|accept-own|additive|none|"
                        r"\d{1,10})")
_EXTCOMMUNITY = re.compile(r"(?:\d{1,10}|\d+\.\d+\.\d+\.\d+):\d{1,10}")
_LARGE = re.compile(r"\d{1,10}:\d{1,10}:\d{1,10}|additive|none")
# Route-map values vtysh -C reads as free words (the daemon parses them when it loads the
# file): checked here so `set community 1:1 xyzzy` or `set local-preference 1e11` fail as
# they would on the router.
_VALUE_LISTS = [
    (re.compile(r"^\s*set community (.+)$"), _COMMUNITY, "community"),
    (re.compile(r"^\s*set (?:extcommunity|extended-community) (?:rt|soo) (.+)$"),
     _EXTCOMMUNITY, "extended community"),
    (re.compile(r"^\s*set large-community (.+)$"), _LARGE, "large community"),
    (re.compile(r"^\s*rt vpn (?:both|import|export) (.+)$"), _EXTCOMMUNITY, "route target"),
]


def _frr_holes(lines: list[str]) -> list[str]:
    """Errors vtysh -C lets through, measured on FRR 8.4.4.

    Where FRR accepts an interface name in place of an address, an impossible address
    (`neighbor 10.0.12.300 remote-as 65002`, `ip route 10.0.0.0/8 10.0.0.300`) is read as an
    interface called "10.0.12.300", and a distance of 300 after a next hop as an interface
    "300". No real interface is named like that, so both are reported as errors. vtysh also
    reads `ip route 1.1.1.1` as an abbreviation of `ip router-id`, and `match ip address
    prefix-list` (name missing) as an access-list called "prefix-list".
    """
    errs = []
    for n, line in enumerate(lines, 1):
        toks = line.split()
        if toks[:1] == ["!"]:
            continue
        for t in toks:
            if _DOTTED.match(t.split("/")[0]) and not _is_ipv4(t.split("/")[0]):
                errs.append(f"line {n}: not a valid IPv4 address: {t}")
        if toks[:2] == ["ip", "route"]:
            if len(toks) < 4:
                errs.append(f"line {n}: Command incomplete: {line.strip()}")
            for prev, t in zip(toks[2:], toks[3:]):
                if t.isdigit() and prev not in ("tag", "table", "label", "metric") \
                        and not 1 <= int(t) <= 255:
                    errs.append(f"line {n}: administrative distance {t} is outside 1-255")
        if toks[:4] in (["match", "ip", "address", "prefix-list"],
                        ["match", "ipv6", "address", "prefix-list"]) and len(toks) == 4:
            errs.append(f"line {n}: Command incomplete: {line.strip()}")
        if toks[:2] == ["set", "local-preference"] and len(toks) == 3:
            v = toks[2].lstrip("+-")
            if not (v.isdigit() and int(v) <= 4294967295):
                errs.append(f"line {n}: bad value: local-preference {toks[2]} (0-4294967295)")
        for rx, value_rx, what in _VALUE_LISTS:
            m = rx.match(line)
            if m:
                bad = [v for v in m.group(1).split() if not value_rx.fullmatch(v)
                       or any(int(x) > 4294967295 for x in re.findall(r"\d+", v))]
                if bad:
                    errs.append(f"line {n}: bad value: not a {what}: {' '.join(bad)}")
    return errs


def check_frr(text: str) -> Verdict:
    """FRR config (vtysh syntax): valid when `vtysh -C` exits 0 and prints nothing."""
    if not text.strip():
        return Verdict(False, ["empty configuration"])
    errs = _frr_holes(text.splitlines()) + list(_vtysh_errors(text))
    # FRR's parser is the authority on FRR: every line is valid or invalid, none unverified.
    n_lines = sum(1 for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("!"))
    return Verdict(not errs, errs, checker=f"vtysh (FRR {frr_version()})", n_lines=n_lines)



