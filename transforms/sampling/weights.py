"""Sampling weights: a small, safe arithmetic expression over a document's scores.

The config gives the weight as text, e.g. `quality ** 2 * bias_weight * (1 - toxicity)` or
`max(quality, 0.1) * exp(0.5 * dsir)`. It is parsed with Python's `ast` module and only these
nodes are accepted; anything else (attributes, subscripts, lambdas, comparisons, unknown
functions) is a config error. Nothing is ever passed to `eval`.

- numbers; score names (identifiers); `+ - * / **`; unary `-`/`+`; parentheses;
- functions `exp(x)`, `log(x)`, `min(a, b, ...)`, `max(a, b, ...)`, `clip(x, lo, hi)`.

Evaluation returns the log of the weight, because DSIR importance weights exp(log-ratio) overflow a
float for long documents (log-ratios of thousands of nats are common). Products, quotients,
powers with a constant exponent and `exp` are evaluated in log space, exactly; other nodes (sums,
min/max, clip) are evaluated in linear space and then logged. Consequences, by design:

- a weight of 0 gives -inf: the document is never selected;
- a factor of a product that is < 0 (or NaN) makes the weight invalid (NaN): never selected and
  counted as `weight_invalid` by the pipeline; so are x/0 and 0 * exp(huge).

Evaluation is per document with `math` (not numpy): results are bit-identical whatever the bundle
or batch a document lands in, which the deterministic selection relies on. A missing or non-finite
score takes its default from `score_defaults`.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping

from quality.scorers.registry import weight_defaults

Scores = Mapping[str, float]
_Fn = Callable[[Scores], float]


def default_scores() -> dict[str, float]:
    """Every name a weight may use without `score_defaults`, with its neutral value: the
    composite quality, DSIR, and what each registered scorer offers (`Scorer.weight_defaults`,
    e.g. toxicity 0.0: a document the scorer did not score is not penalised)."""
    return {"quality": 1.0, "dsir": 0.0, **weight_defaults()}


DEFAULT_SCORES: dict[str, float] = default_scores()  # the built-in scorers' (at import)
FUNCTIONS = {"exp": 1, "log": 1, "min": -2, "max": -2, "clip": 3}  # arity; -2 = two or more


class WeightExpressionError(ValueError):
    """The weight expression is not in the accepted grammar."""


def _safe_log(x: float) -> float:
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _safe_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _div(a: float, b: float) -> float:
    return a / b if b != 0 else math.nan


def _pow(a: float, b: float) -> float:
    try:
        r = a**b
    except (OverflowError, ZeroDivisionError):
        return math.inf if a != 0 else math.nan
    return r if isinstance(r, float | int) else math.nan  # complex from a negative base


_BIN = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: _div,
    ast.Pow: _pow,
}


class WeightExpression:
    """A parsed weight expression.

    Args:
        text: the expression (see module docstring for the grammar).

    Raises:
        WeightExpressionError: the text is not in the grammar.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise WeightExpressionError(f"cannot parse weight {text!r}: {exc.msg}") from None
        self.names: set[str] = set()
        self._log = self._compile_log(tree.body)

    def __reduce__(self):  # closures do not pickle; rebuild from the text
        return (WeightExpression, (self.text,))

    def log_weight(self, scores: Scores) -> float:
        """log(weight) for one document; -inf means weight 0, NaN means invalid."""
        try:
            return float(self._log(scores))
        except (ArithmeticError, ValueError):
            return math.nan

    def weight(self, scores: Scores) -> float:
        """The weight itself (may overflow to inf; use `log_weight` for sampling)."""
        lw = self.log_weight(scores)
        return math.nan if math.isnan(lw) else _safe_exp(lw)

    # -- compilation: each node becomes a closure over the scores mapping ----------------------

    def _compile_lin(self, node: ast.AST) -> _Fn:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            c = self._number(node)
            return lambda s: c
        if isinstance(node, ast.Name):
            name = node.id
            if name in FUNCTIONS:
                raise WeightExpressionError(f"{name!r} is a function; call it: {name}(...)")
            self.names.add(name)
            return lambda s: s[name]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            f = self._compile_lin(node.operand)
            return (lambda s: -f(s)) if isinstance(node.op, ast.USub) else f
        if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            op, a, b = (
                _BIN[type(node.op)],
                self._compile_lin(node.left),
                self._compile_lin(node.right),
            )
            return lambda s: op(a(s), b(s))
        if isinstance(node, ast.Call):
            name, args = self._call(node)
            fs = [self._compile_lin(a) for a in args]
            if name == "exp":
                return lambda s: _safe_exp(fs[0](s))
            if name == "log":
                return lambda s: _safe_log(fs[0](s))
            if name == "min":
                return lambda s: min(f(s) for f in fs)
            if name == "max":
                return lambda s: max(f(s) for f in fs)
            x, lo, hi = fs
            return lambda s: min(max(x(s), lo(s)), hi(s))
        raise WeightExpressionError(f"weight {self.text!r}: {ast.unparse(node)!r} is not allowed")

    def _compile_log(self, node: ast.AST) -> _Fn:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            a, b = self._compile_log(node.left), self._compile_log(node.right)
            return lambda s: a(s) + b(s)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            a, b = self._compile_log(node.left), self._compile_log(node.right)
            return lambda s: math.nan if b(s) == -math.inf else a(s) - b(s)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and _is_number(node.right):
            p, a = self._number(node.right), self._compile_log(node.left)
            return lambda s: 0.0 if p == 0 else p * a(s)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "exp":
            _, args = self._call(node)
            return self._compile_lin(args[0])
        f = self._compile_lin(node)
        return lambda s: _safe_log(f(s))

    def _number(self, node: ast.expr) -> float:
        """A literal (possibly signed) number as a finite float; else a config error.

        A huge integer literal cannot become a float (OverflowError) and `1e999` is inf: neither
        is a meaningful weight constant, so both are rejected with the expression's text.
        """
        try:
            value = float(ast.literal_eval(node))
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            written = ast.get_source_segment(self.text.strip(), node) or ast.unparse(node)
            raise WeightExpressionError(
                f"weight {_short(self.text.strip())!r}: the number {_short(written)} is too "
                "large (numbers must be finite floats, |x| < 1.8e308)"
            )
        return value

    def _call(self, node: ast.Call) -> tuple[str, list[ast.expr]]:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            raise WeightExpressionError(
                f"weight {self.text!r}: only {', '.join(FUNCTIONS)} may be called, got {ast.unparse(node)!r}"
            )
        name, arity, n = node.func.id, FUNCTIONS[node.func.id], len(node.args)
        if (arity > 0 and n != arity) or (arity < 0 and n < -arity):
            raise WeightExpressionError(f"weight {self.text!r}: {name}() got {n} argument(s)")
        return name, list(node.args)


def _short(text: str, keep: int = 24) -> str:
    return text if len(text) <= 2 * keep else f"{text[:keep]}...{text[-keep:]}"


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def resolve_scores(
    scores: Mapping[str, object] | None, names: set[str], defaults: Mapping[str, float]
) -> tuple[dict[str, float], list[str]]:
    """The value of every name the expression uses, with defaults filled in.

    Returns:
        (values, bad): `bad` lists names whose value was present but not a finite number (replaced
        by the default); an absent name is normal (that scorer is off) and is not reported.
    """
    out: dict[str, float] = {}
    bad: list[str] = []
    scores = scores if isinstance(scores, Mapping) else {}
    for name in names:
        v = scores.get(name)
        if v is None:
            out[name] = float(defaults[name])
        elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out[name] = float(v)
        else:
            bad.append(name)
            out[name] = float(defaults[name])
    return out, bad
