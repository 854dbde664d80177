"""Parse the expression strings of a model declaration into sympy.

This is the single parser used by every consumer of a declaration: the numeric DIC kernels
(:mod:`nwb_dicpop.models.kernel`) lambdify what it returns, and the Brian2 equation generator
prints it.  sympy is imported lazily so that ``import nwb_dicpop`` stays light.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sympy

    from nwb_dicpop.models.declaration import NeuronModel

__all__ = ["FUNCTIONS", "VOLTAGE", "free_names", "parse_expression", "sympy_module"]

VOLTAGE = "V"
FUNCTIONS = ("exp", "log", "sqrt", "tanh", "abs")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def free_names(text: str) -> set[str]:
    """Identifiers used in an expression string, function names excluded."""
    names = set(_NAME.findall(_NUMBER.sub(" ", text)))
    return names - set(FUNCTIONS)


@cache
def sympy_module() -> Any:
    """The ``sympy`` module, imported on first use (``import nwb_dicpop`` stays light)."""
    import sympy

    return sympy


def _parse(text: str, symbols: dict[str, Any], where: str) -> sympy.Expr:
    sp = sympy_module()
    unknown = free_names(text) - set(symbols)
    if unknown:
        msg = (
            f"{where}: unknown name(s) {sorted(unknown)} in expression {text!r}; allowed names "
            f"are {sorted(symbols)} and the functions {list(FUNCTIONS)}."
        )
        raise ValueError(msg)
    local = dict(symbols)
    local.update(exp=sp.exp, log=sp.log, sqrt=sp.sqrt, tanh=sp.tanh, abs=sp.Abs)
    try:
        from sympy.parsing.sympy_parser import parse_expr

        return parse_expr(text, local_dict=local, evaluate=True)
    except (SyntaxError, TypeError, ValueError) as err:
        msg = f"{where}: cannot parse expression {text!r}: {err}"
        raise ValueError(msg) from err


def _symbols_of(model: NeuronModel, extra: Iterable[str]) -> dict[str, Any]:
    sp = sympy_module()
    names = {VOLTAGE, *extra}
    if model.calcium is not None:
        names.add(model.calcium.name)
    return {name: sp.Symbol(name, real=True) for name in names}


def parse_expression(
    model: NeuronModel, text: str, *, extra_names: Iterable[str] = (), inline: bool = True
) -> sympy.Expr:
    """Parse ``text`` in the context of ``model``.

    Parameters
    ----------
    model : NeuronModel
    text : str
        Expression in ``V`` (mV), the calcium name, the model's definitions and
        ``extra_names`` (e.g. Markov states).
    extra_names : iterable of str
        Additional free symbols allowed in ``text``.
    inline : bool
        Replace the model's named definitions by their expressions (True, for numerics) or
        keep them as symbols (False, for generated equations that declare them separately).

    Returns
    -------
    sympy.Expr
    """
    symbols = _symbols_of(model, extra_names)
    sp = sympy_module()
    definitions = {name: sp.Symbol(name, real=True) for name in model.definitions}
    expr = _parse(text, {**symbols, **definitions}, f"model {model.name!r}")
    if inline:
        expr = expr.subs(_inlined_definitions(model))
    return expr


def _inlined_definitions(model: NeuronModel) -> dict[Any, Any]:
    """Each definition symbol mapped to its fully inlined expression (definitions may nest)."""
    sp = sympy_module()
    symbols = _symbols_of(model, ())
    def_symbols = {name: sp.Symbol(name, real=True) for name in model.definitions}
    raw = {
        def_symbols[name]: _parse(text, {**symbols, **def_symbols}, f"definition {name!r}")
        for name, text in model.definitions.items()
    }
    resolved: dict[Any, Any] = {}
    for _ in range(len(raw) + 1):
        resolved = {sym: expr.subs(raw) for sym, expr in raw.items()}
        if all(not (expr.free_symbols & set(raw)) for expr in resolved.values()):
            return resolved
        raw = resolved
    msg = f"model {model.name!r}: definitions refer to each other in a cycle."
    raise ValueError(msg)
