"""Issue 24 item 3: nothing outside netft/parallel/ names a parallel backend or reads a backend's
private attributes; what differs per backend is asked of parallel/ (backends.py, engine.py).

Checked on the code (AST), not on prose: comments, docstrings and the messages of raised errors
may explain why a generic design exists ("under FSDP2 every forward is a collective") or tell a
user what to set; names, other string constants, attribute reads and imports may not pick a
backend."""
import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "netft"

# A backend's name, in identifiers and in string constants ("single" only as a whole constant:
# the word is common English).
NAME = re.compile(r"zero[-_]?3|fsdp|\bddp\b|deep_?speed|dtensor", re.I)
# Attributes only one backend's objects have (DeepSpeed's partitioned parameters, DTensors,
# FSDP2 modules, DeepSpeed's engine).
ATTR = re.compile(r"^(ds_\w+|to_local|full_tensor|placements|set_requires_gradient_sync"
                  r"|fully_shard|_zero3\w*|is_gradient_accumulation_boundary)$")
MODULES = ("deepspeed", "torch.distributed.fsdp", "torch.distributed.tensor",
           "torch.nn.parallel", "torch.distributed._composable")


def _prose(tree) -> set[int]:
    """Docstrings, and every string of a raised error's message."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
        elif isinstance(node, ast.Raise) and node.exc is not None:
            out |= {id(n) for n in ast.walk(node.exc) if isinstance(n, ast.Constant)}
    return out


def leaks(source: str) -> list[tuple[int, str]]:
    """(line, what) for every backend-specific name, constant, attribute or import in source."""
    tree = ast.parse(source)
    prose = _prose(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            if NAME.search(node.value) or node.value == "single" or ATTR.match(node.value):
                found.append((line, f"string {node.value[:60]!r}"))
        elif isinstance(node, ast.Attribute) and (ATTR.match(node.attr) or NAME.search(node.attr)):
            found.append((line, f"attribute .{node.attr}"))
        elif isinstance(node, ast.Name) and NAME.search(node.id):
            found.append((line, f"name {node.id}"))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and NAME.search(node.name):
            found.append((line, f"definition {node.name}"))
        elif isinstance(node, ast.Import):
            found += [(line, f"import {a.name}") for a in node.names if a.name.startswith(MODULES)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(MODULES):
            found.append((line, f"from {node.module} import"))
    return found


def test_nothing_outside_parallel_names_a_backend():
    found = [f"netft/{f.relative_to(PKG)}:{line}: {what}"
             for f in sorted(PKG.rglob("*.py")) if "parallel" not in f.relative_to(PKG).parts
             for line, what in leaks(f.read_text())]
    assert not found, "ask netft/parallel/ (backends.py) instead:\n" + "\n".join(found)


@pytest.mark.parametrize("code", [
    'if cfg.parallel.name == "zero3": pass',
    'name = "single"',
    'n = p.ds_numel',
    't = t.to_local() if hasattr(t, "to_local") else t',
    'import deepspeed',
    'from torch.distributed.fsdp import fully_shard',
    'def fsdp_no_sync(): pass',
])
def test_the_check_sees_each_kind_of_leak(code):
    assert leaks(code)


def test_the_check_leaves_prose_and_generic_code_alone():
    code = ('def f(engine):\n    """Under FSDP2/ZeRO-3 every forward is a collective."""\n'
            '    # DeepSpeed partitions: see parallel/\n'
            '    if engine is None:\n'
            '        raise ValueError(f"{engine}: DeepSpeed checkpoints unpickle their files")\n'
            '    return backend(engine.name).sharded, "parallel.backend=gloo"\n')
    assert leaks(code) == []
