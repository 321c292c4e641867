"""Functions take few parameters: what belongs together travels together (a ``Learner``, a ``Recipe``,
a ``Site``...). Only a layer's constructor may take more than MAX_PARAMETERS: its settings are the
layer's own (filters, kernel, stride, pad, dilation, bias, init...)."""

import ast
import importlib

from helpers import ROOT

from nnexp.nn.layers import Layer

MAX_PARAMETERS = 8
"""Counting ``self``, and ``*args`` and ``**kwargs`` as one each."""


def parameter_count(function):
    args = function.args
    return (len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs) + (args.vararg is not None)
            + (args.kwarg is not None))


def is_layer_constructor(module, owner, function):
    if owner is None or function.name != "__init__":
        return False
    cls = getattr(importlib.import_module(module), owner.name, None)
    return isinstance(cls, type) and issubclass(cls, Layer)


def long_signatures(path):
    """(function, parameter count) of every function of the module at ``path`` over the limit."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    found = []

    def visit(node, owner):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = parameter_count(child)
                if n > MAX_PARAMETERS and not is_layer_constructor(module, owner, child):
                    found.append((f"{module}.{owner.name + '.' if owner else ''}{child.name}", n))
                visit(child, None)
            elif isinstance(child, ast.ClassDef):
                visit(child, child)
            else:
                visit(child, owner)

    visit(ast.parse(path.read_text()), None)
    return found


def test_no_function_outside_a_layer_constructor_takes_more_than_eight_parameters():
    found = [hit for path in sorted((ROOT / "nnexp").rglob("*.py")) for hit in long_signatures(path)]
    assert found == []


def test_the_check_sees_long_signatures_and_spares_layer_constructors():
    """Break tried: counting only positional parameters misses ``def f(a, *, b, c, ...)``."""
    conv = ROOT / "nnexp" / "nn" / "conv.py"
    assert long_signatures(conv) == []
    assert any(parameter_count(f) > MAX_PARAMETERS for f in ast.walk(ast.parse(conv.read_text()))
               if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    tree = ast.parse("def f(a, b, *, c, d, e, f, g, h, i): pass")
    assert parameter_count(tree.body[0]) == 9
