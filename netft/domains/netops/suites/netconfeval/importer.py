"""Build the external data set `netconfeval` from the user's own clone of the benchmark.

    netft suite import netconfeval CLONE --out DIR [--published HF_DIR]

netft ships none of the benchmark's material. This reads it from a clone of
github.com/RedHatResearch/NetConfEval and writes DIR/netconfeval/:

    step_1_policies.csv.gz  assets/step_1_policies.csv, gzipped (the text unchanged)
    prompts.json            the step-1 prompt texts, as the model receives them (system
                            prompts; "user": the line the requirements follow)
    statements.json         the requirement sentence templates, per requirement type, in the
                            generator's order
    LICENSE                 the clone's licence (MIT)
    UPSTREAM.md             where each file came from: the clone's commit, sha256 of sources
    published/              only with --published: the benchmark's published step-1 request
                            sets (its Hugging Face dataset), for the equality test alone

The prompt texts and the sentence templates are string constants (and lists of them) in the
clone's Python modules; they are read by parsing the source with `ast` — the benchmark's code
is never imported or run. The first four prompt
modules are LangChain prompt templates, so `{{`/`}}` reach the model as `{`/`}`: they are
stored rendered; the ad-hoc function-call prompts are passed verbatim and stored so.
"""
from __future__ import annotations

import ast
import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from netft.errors import NetftError

from . import requests as R

PROMPT_DIR = Path("netconfeval") / "prompts"
POLICY_SOURCE = Path("assets") / "step_1_policies.csv"
# prompts.json key -> (module under PROMPT_DIR, is a LangChain template, {key: constant}).
_SPEC = {"setup": "SETUP_PROMPT", "function": "FUNCTION_PROMPT", "ask": "ASK_FOR_RESULT_PROMPT"}
SOURCES = {
    ("translation", "reachability"): ("step_1_reachability.py", True, _SPEC),
    ("translation", "reachability,waypoint"): ("step_1_reachability_waypoint.py", True, _SPEC),
    ("translation", "loadbalancing,reachability,waypoint"):
        ("step_1_reachability_waypoint_load.py", True, _SPEC),
    ("conflict",): ("step_1_conflict_detection.py", True, _SPEC),
    ("function_call_adhoc",): ("step_1_adhoc_function.py", False, {
        "setup": "SETUP_PROMPT", "reachability": "REACHABILITY_FUNCTION",
        "waypoint": "WAYPOINT_FUNCTION", "loadbalancing": "LOADBALANCING_FUNCTION",
        "ask": "ASK_FOR_RESULT_PROMPT"}),
}
PUBLISHED = ("step_1_spec_translation.jsonl", "step_1_spec_conflict.jsonl")
# statements.json key -> the module-level list of templates in STATEMENT_SOURCE.
STATEMENT_SOURCE = Path("netconfeval") / "common" / "utils.py"
STATEMENT_LISTS = {kind: f"{kind}_statements" for kind in R.STATEMENT_TYPES}
# The user message's lead-in: for 1a/1b the string the input formatter prepends (a function of
# USER_SPEC_SOURCE); for 1c the one a ("user", "..." + text) message of USER_ADHOC_SOURCE starts
# with (its other, OpenAI-function path builds a dict and is not run by netft).
USER_SPEC_SOURCE = (Path("netconfeval") / "formatters" / "formatters.py",
                    "step_1_input_formatter")
USER_ADHOC_SOURCE = Path("netconfeval") / "step_1_function_call.py"


class CloneError(NetftError, ValueError):
    """A clone that does not hold what netft needs (netft's CLI prints it as one line)."""


def string_constants(path: Path) -> dict[str, str]:
    """NAME = "..." assignments at module level, read from the source without running it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def string_lists(path: Path) -> dict[str, list[str]]:
    """NAME = ["...", ...] assignments at module level (every item a string constant)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.List)
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str)
                        for e in node.value.elts)):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = [e.value for e in node.value.elts]
    return out


def _lead_strings(node: ast.AST) -> list[str]:
    """The left operands of `"..." + x` expressions under node."""
    return [n.left.value for n in ast.walk(node)
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add)
            and isinstance(n.left, ast.Constant) and isinstance(n.left.value, str)]


def _one(found: list[str], where: str, what: str) -> str:
    if len(found) != 1:
        raise CloneError(f"{where}: expected one {what}, found {len(found)}; is this the commit "
                         "docs/netconfeval.md names?")
    return found[0]


def read_user_leads(clone: Path) -> dict[str, str]:
    module, func = USER_SPEC_SOURCE
    path = clone / module
    if not path.is_file():
        raise CloneError(f"{path}: missing; is {clone} a clone of NetConfEval?")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func]
    spec = _one([s for d in defs for s in _lead_strings(d)], f"{path}: {func}",
                '"..." + requirement')
    path = clone / USER_ADHOC_SOURCE
    if not path.is_file():
        raise CloneError(f"{path}: missing; is {clone} a clone of NetConfEval?")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    adhoc = [s for n in ast.walk(tree) if isinstance(n, ast.Tuple) and len(n.elts) == 2
             and isinstance(n.elts[0], ast.Constant) and n.elts[0].value == "user"
             for s in _lead_strings(n.elts[1])]
    return {"spec": spec,
            "function_call_adhoc": _one(adhoc, str(path), '("user", "..." + text) message')}


def read_statements(clone: Path) -> dict[str, list[str]]:
    path = clone / STATEMENT_SOURCE
    if not path.is_file():
        raise CloneError(f"{path}: missing; is {clone} a clone of NetConfEval?")
    lists = string_lists(path)
    out = {}
    for kind, name in STATEMENT_LISTS.items():
        if not lists.get(name):
            raise CloneError(f"{path}: no list of string constants {name}")
        out[kind] = lists[name]
    return out


def render_template(text: str, where: str) -> str:
    """A variable-free f-string template as LangChain renders it: `{{` -> `{`, `}}` -> `}`."""
    try:
        return text.format()
    except (IndexError, KeyError, ValueError) as e:
        raise CloneError(f"{where}: not a variable-free prompt template ({e}); is this the "
                           f"commit docs/netconfeval.md names?") from None


def read_prompts(clone: Path) -> dict:
    prompts: dict = {}
    for keys, (module, template, names) in SOURCES.items():
        path = clone / PROMPT_DIR / module
        if not path.is_file():
            raise CloneError(f"{path}: missing; is {clone} a clone of NetConfEval?")
        consts = string_constants(path)
        block = {}
        for key, const in names.items():
            if const not in consts:
                raise CloneError(f"{path}: no string constant {const}")
            text = consts[const]
            block[key] = render_template(text, f"{path}: {const}") if template else text
        node = prompts
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = block
    prompts["user"] = read_user_leads(clone)
    return prompts


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _commit(clone: Path) -> str:
    def git(*args):
        return subprocess.run(["git", "-C", str(clone), *args], check=True,
                              capture_output=True, text=True).stdout.strip()
    try:  # the clone's own commit, not that of a repository the folder happens to sit in
        if Path(git("rev-parse", "--show-toplevel")).resolve() == clone.resolve():
            return git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        pass
    return "unknown (not a git checkout)"


def _gzip(text: bytes, dest: Path) -> None:
    # mtime 0 and no file name: the same input gives the same bytes.
    with open(dest, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                mtime=0) as fh:
        fh.write(text)


def build(clone: Path, out: Path, published: Path | None = None) -> Path:
    """Write out/netconfeval/ from a NetConfEval clone (and the published request sets from
    a download of its Hugging Face dataset, when given); returns that folder."""
    clone, out = Path(clone), Path(out)
    policies = clone / POLICY_SOURCE
    if not policies.is_file():
        raise CloneError(f"{policies}: missing; is {clone} a clone of NetConfEval?")
    prompts = read_prompts(clone)
    statements = read_statements(clone)
    dest = out / R.NAME
    dest.mkdir(parents=True, exist_ok=True)
    _gzip(policies.read_bytes(), dest / R.POLICIES)
    (dest / R.PROMPTS).write_text(json.dumps(prompts, indent=1), encoding="utf-8")
    (dest / R.STATEMENTS).write_text(json.dumps(statements, indent=1), encoding="utf-8")
    if (clone / "LICENSE").is_file():
        shutil.copyfile(clone / "LICENSE", dest / "LICENSE")
    modules = ", ".join(sorted({f"`{PROMPT_DIR / m}`" for m, _, _ in SOURCES.values()}))
    user = f"`{USER_SPEC_SOURCE[0]}`, `{USER_ADHOC_SOURCE}`"
    rows = [f"| `{R.POLICIES}` | `{POLICY_SOURCE}` (sha256 `{_sha256(policies)}`) | gzip only |",
            f"| `{R.PROMPTS}` | {modules}; `user`: {user} | string constants read with `ast`; "
            "the LangChain templates rendered (`{{` -> `{`) |",
            f"| `{R.STATEMENTS}` | `{STATEMENT_SOURCE}` (sha256 "
            f"`{_sha256(clone / STATEMENT_SOURCE)}`) | the `*_statements` lists, read with "
            "`ast` |"]
    if published is not None:
        (dest / "published").mkdir(exist_ok=True)
        for name in PUBLISHED:
            src = Path(published) / name
            if not src.is_file():
                raise CloneError(f"{src}: missing; download the Hugging Face dataset "
                                   "NetConfEval/NetConfEval (docs/netconfeval.md)")
            lines = []
            for line in src.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    row.pop("description", None)  # constant: the system prompt, kept above
                    lines.append(json.dumps(row) + "\n")
            _gzip("".join(lines).encode("utf-8"), dest / "published" / f"{name}.gz")
            rows.append(f"| `published/{name}.gz` | Hugging Face NetConfEval/NetConfEval "
                        f"`{name}` (sha256 `{_sha256(src)}`) | `description` column dropped |")
    (dest / "UPSTREAM.md").write_text(
        "# NetConfEval data, built by `netft suite import netconfeval`\n\n"
        "Wang et al., \"NetConfEval: Can LLMs Facilitate Network Configuration?\", Proc. ACM "
        "Netw. 2(CoNEXT2), 2024, doi:10.1145/3656296. MIT licence (`LICENSE`).\n\n"
        f"Clone: {clone.resolve()} at commit {_commit(clone)} (netft's docs name the commit "
        "it was checked against).\n\n| file | source | how |\n|---|---|---|\n"
        + "\n".join(rows) + "\n", encoding="utf-8")
    return dest
