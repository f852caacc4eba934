"""A parser and evaluator for the Personalize filter expressions the pipeline creates.

Supported (unknown syntax raises :class:`FilterSyntaxError`, which CreateFilter turns into InvalidInputException):

    INCLUDE|EXCLUDE ItemID WHERE <condition> [IF <user condition>] [ | INCLUDE|EXCLUDE ItemID WHERE ... ]
    condition := term (OR term)*;  term := atom (AND atom)*;  atom := ( condition ) | comparison
    comparison := Items.FIELD [NOT] IN (values) | Items.FIELD (= | < | <= | > | >=) value
                | Interactions.EVENT_TYPE [NOT] IN (values)
    user condition := user comparison (AND user comparison)*
    user comparison := CurrentUser.FIELD [NOT] IN (values) | CurrentUser.FIELD (= | < | <= | > | >=) value
    value := "string" | number | $PLACEHOLDER

Case, as the service reads it: keywords, ``ItemID`` and the dataset names (``Items``, ``Interactions``,
``CurrentUser``) in any case (its own API reference once wrote ``EXCLUDE itemId WHERE INTERACTIONS.event_type in
(...)``); field names in any case too, matched to the schema's field of that name (the guide writes
``Items.genres`` for a ``GENRES`` field; a schema cannot hold two names that differ only in case). Values are
matched exactly, except event types, the only values matched ignoring case; ``"*"`` stands for every event type.
An ``IF`` clause, once at the end of an expression, makes the expression apply only to users whose Users record
satisfies it; a user without that record or value does not.

``$PLACEHOLDER`` values come from GetRecommendations' ``filterValues``: a string of comma-separated quoted values
such as ``"\\"B\\",\\"C\\""``. As the service does, a comparison whose placeholder has no value is left out of the
expression (and an expression left with no comparison is left out of the filter). Multi-valued item fields
(``A|B|C``) match IN when any of their values is in the set. ``Interactions.EVENT_TYPE`` comparisons hold for the
items the current user has an interaction of such a type with; boolean fields and CurrentItem are not supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

MAX_FILTER_VALUES = 100
#: Deepest parenthesis nesting taken. The parser recurses per level, so a few hundred would exhaust Python's
#: stack (RecursionError, a server error); real filters nest two or three levels.
MAX_NESTING = 20
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<placeholder>\$[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<punct>[(),|])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"INCLUDE", "EXCLUDE", "WHERE", "AND", "OR", "NOT", "IN", "IF"}
#: Dataset names as written in any case -> the name they stand for.
_DATASETS = {"items": "Items", "interactions": "Interactions", "currentuser": "CurrentUser"}
#: Every event type, in an Interactions.EVENT_TYPE list.
ANY_EVENT_TYPE = "*"


class FilterSyntaxError(ValueError):
    """The filter expression is not one this endpoint understands."""


class FilterValueError(ValueError):
    """filterValues given at GetRecommendations cannot be used with the filter."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Literal:
    value: str


@dataclass(frozen=True)
class Placeholder:
    name: str


Value = Literal | Placeholder


@dataclass(frozen=True)
class Comparison:
    dataset: str  # "Items" | "Interactions" | "CurrentUser"
    field: str  # as written; the schema's field of that name ignoring case (Interactions: always EVENT_TYPE)
    operator: str  # "IN", "NOT IN", "=", "<", "<=", ">", ">="
    values: tuple[Value, ...]


@dataclass(frozen=True)
class BoolOp:
    operator: str  # "AND" | "OR"
    parts: tuple[Condition, ...]


Condition = Comparison | BoolOp


@dataclass(frozen=True)
class Expression:
    action: str  # "INCLUDE" | "EXCLUDE"
    condition: Condition
    #: CurrentUser comparisons, all of which must hold for the expression to apply (empty: always applies).
    user_condition: tuple[Comparison, ...] = ()


@dataclass(frozen=True)
class Filter:
    expressions: tuple[Expression, ...]

    def placeholders(self) -> set[str]:
        names: set[str] = set()
        for expression in self.expressions:
            _collect_placeholders(expression.condition, names)
            for comparison in expression.user_condition:
                _collect_placeholders(comparison, names)
        return names

    def item_fields(self) -> set[str]:
        """The Items fields the filter names, as written."""
        fields: set[str] = set()
        for expression in self.expressions:
            _collect_fields(expression.condition, fields)
        return fields

    def user_fields(self) -> set[str]:
        """The CurrentUser (Users) fields the filter names, as written."""
        return {comparison.field for expression in self.expressions for comparison in expression.user_condition}


def _collect_placeholders(condition: Condition, names: set[str]) -> None:
    if isinstance(condition, BoolOp):
        for part in condition.parts:
            _collect_placeholders(part, names)
        return
    names.update(value.name for value in condition.values if isinstance(value, Placeholder))


def _collect_fields(condition: Condition, fields: set[str]) -> None:
    if isinstance(condition, BoolOp):
        for part in condition.parts:
            _collect_fields(part, fields)
    elif condition.dataset == "Items":
        fields.add(condition.field)


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    stripped_end = len(text.rstrip())
    while position < stripped_end:
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterSyntaxError(
                f"Invalid Expression: unexpected character at position {position}: {text[position : position + 20]!r}"
            )
        kind = match.lastgroup or ""
        token_text = match.group(kind)
        start = match.start(kind)
        if kind == "word" and token_text.upper() in _KEYWORDS:
            kind, token_text = "keyword", token_text.upper()
        tokens.append(Token(kind, token_text, start))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or token.kind != kind or (text is not None and token.text != text):
            wanted = text or kind
            found = "the end of the expression" if token is None else repr(token.text)
            where = "" if token is None else f" at position {token.position}"
            raise FilterSyntaxError(f"Invalid Expression: expected {wanted}, found {found}{where}")
        self.index += 1
        return token

    def accept(self, kind: str, text: str | None = None) -> bool:
        token = self.peek()
        if token is not None and token.kind == kind and (text is None or token.text == text):
            self.index += 1
            return True
        return False

    def parse(self) -> Filter:
        expressions = [self.expression()]
        while self.accept("punct", "|"):
            expressions.append(self.expression())
        if self.peek() is not None:
            token = self.peek()
            raise FilterSyntaxError(f"Invalid Expression: unexpected {token.text!r} at position {token.position}")
        return Filter(tuple(expressions))

    def expression(self) -> Expression:
        token = self.peek()
        if token is None or token.text not in ("INCLUDE", "EXCLUDE"):
            raise FilterSyntaxError("Invalid Expression: an expression starts with INCLUDE or EXCLUDE")
        self.index += 1
        item_id = self.take("word")
        if item_id.text.upper() != "ITEMID":
            raise FilterSyntaxError(f"Invalid Expression: only ItemID filters are supported, got {item_id.text!r}")
        self.take("keyword", "WHERE")
        condition = self.condition()
        user_condition: list[Comparison] = []
        if self.accept("keyword", "IF"):
            user_condition.append(self.comparison(user=True))
            while self.accept("keyword", "AND"):
                user_condition.append(self.comparison(user=True))
        return Expression(token.text, condition, tuple(user_condition))

    def condition(self) -> Condition:
        parts = [self.term()]
        while self.accept("keyword", "OR"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def term(self) -> Condition:
        parts = [self.atom()]
        while self.accept("keyword", "AND"):
            parts.append(self.atom())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def atom(self) -> Condition:
        if self.accept("punct", "("):
            self.depth += 1
            if self.depth > MAX_NESTING:
                position = self.tokens[self.index - 1].position
                raise FilterSyntaxError(
                    f"Invalid Expression: parentheses nest deeper than {MAX_NESTING} levels at position {position}"
                )
            inner = self.condition()
            self.take("punct", ")")
            self.depth -= 1
            return inner
        return self.comparison(user=False)

    def comparison(self, *, user: bool) -> Comparison:
        """One comparison: of a WHERE condition (Items or Interactions) or, ``user``, of an IF (CurrentUser)."""
        reference = self.take("word")
        written, _, field = reference.text.partition(".")
        dataset = _DATASETS.get(written.lower())
        if user and (dataset != "CurrentUser" or not field):
            raise FilterSyntaxError(
                f"Invalid Expression: an IF condition checks CurrentUser.FIELD only, got {reference.text!r}"
            )
        if not user and dataset == "CurrentUser":
            raise FilterSyntaxError(
                f"Invalid Expression: {reference.text} may only be used in an IF condition at the end of an expression"
            )
        if not user and (dataset not in ("Items", "Interactions") or not field):
            raise FilterSyntaxError(
                f"Invalid Expression: {reference.text!r} is not supported (use Items.FIELD or Interactions.EVENT_TYPE)"
            )
        if dataset == "Interactions":
            if field.upper() != "EVENT_TYPE":
                raise FilterSyntaxError(
                    f"Invalid Expression: Interactions.{field} is not supported (only Interactions.EVENT_TYPE)"
                )
            field = "EVENT_TYPE"
        if self.accept("keyword", "NOT"):
            self.take("keyword", "IN")
            return Comparison(dataset, field, "NOT IN", self.value_list())
        if self.accept("keyword", "IN"):
            return Comparison(dataset, field, "IN", self.value_list())
        operator = self.take("op").text
        if operator == "!=" or dataset == "Interactions":
            raise FilterSyntaxError(f"Invalid Expression: operator {operator!r} is not supported on {reference.text}")
        return Comparison(dataset, field, operator, (self.value(),))

    def value_list(self) -> tuple[Value, ...]:
        self.take("punct", "(")
        values = [self.value()]
        while self.accept("punct", ","):
            values.append(self.value())
        self.take("punct", ")")
        if len(values) > MAX_FILTER_VALUES:
            raise FilterSyntaxError(f"Invalid Expression: at most {MAX_FILTER_VALUES} values in a list")
        return tuple(values)

    def value(self) -> Value:
        token = self.peek()
        if token is not None and token.kind == "string":
            self.index += 1
            return Literal(_unquote(token.text))
        if token is not None and token.kind == "number":
            self.index += 1
            return Literal(token.text)
        if token is not None and token.kind == "placeholder":
            self.index += 1
            return Placeholder(token.text[1:])
        found = "the end of the expression" if token is None else repr(token.text)
        raise FilterSyntaxError(f"Invalid Expression: expected a value, found {found}")


def _unquote(quoted: str) -> str:
    return re.sub(r"\\(.)", r"\1", quoted[1:-1])


def parse_filter(text: str) -> Filter:
    """The parsed filter, or FilterSyntaxError naming what is wrong and where."""
    if not text or not text.strip():
        raise FilterSyntaxError("Invalid Expression: the filter expression is empty")
    return _Parser(text).parse()


def parse_filter_values(filter_values: dict[str, str] | None) -> dict[str, tuple[str, ...]]:
    """``{"CUP": '"B","C"'}`` -> ``{"CUP": ("B", "C")}``; FilterValueError for anything else."""
    parsed: dict[str, tuple[str, ...]] = {}
    for name, raw in (filter_values or {}).items():
        tokens = _tokenize(raw) if raw.strip() else []
        values: list[str] = []
        expect_value = True
        for token in tokens:
            if expect_value and token.kind in ("string", "number"):
                values.append(_unquote(token.text) if token.kind == "string" else token.text)
                expect_value = False
            elif not expect_value and token.kind == "punct" and token.text == ",":
                expect_value = True
            else:
                raise FilterValueError(
                    f'filterValues[{name!r}] must be comma-separated quoted values like \'"B","C"\', got {raw!r}'
                )
        if not values or expect_value:
            raise FilterValueError(f"filterValues[{name!r}] holds no value: {raw!r}")
        if len(values) > MAX_FILTER_VALUES:
            raise FilterValueError(f"filterValues[{name!r}] has more than {MAX_FILTER_VALUES} values")
        parsed[name] = tuple(values)
    return parsed


class FilterContext(Protocol):
    """What evaluation needs from the serving side: boolean masks over its candidate items."""

    size: int

    def items_in(self, field: str, values: set[str]) -> np.ndarray: ...

    def items_compare(self, field: str, operator: str, value: str) -> np.ndarray: ...

    def interacted_with(self, event_types: set[str]) -> np.ndarray: ...

    def interacted_with_other_than(self, event_types: set[str]) -> np.ndarray: ...

    def user_value(self, field: str) -> str | None:
        """The current user's value of a Users field (its name in any case); None when unknown or empty."""
        ...


def _resolve(values: tuple[Value, ...], bound: dict[str, tuple[str, ...]]) -> set[str] | None:
    resolved: set[str] = set()
    for value in values:
        if isinstance(value, Literal):
            resolved.add(value.value)
        elif value.name in bound:
            resolved.update(bound[value.name])
        else:
            return None  # an unbound placeholder leaves the comparison out
    return resolved


def _evaluate(condition: Condition, context: FilterContext, bound: dict[str, tuple[str, ...]]) -> np.ndarray | None:
    if isinstance(condition, BoolOp):
        masks = [m for m in (_evaluate(part, context, bound) for part in condition.parts) if m is not None]
        if not masks:
            return None
        result = masks[0].copy()
        for mask in masks[1:]:
            if condition.operator == "AND":
                result &= mask
            else:
                result |= mask
        return result
    values = _resolve(condition.values, bound)
    if values is None:
        return None
    if condition.dataset == "Interactions":
        # Event types are the only values matched ignoring case; "*" is every type.
        folded = {value.lower() for value in values}
        if condition.operator == "IN":
            return context.interacted_with(folded)
        return context.interacted_with_other_than(folded)
    if condition.operator == "IN":
        return context.items_in(condition.field, values)
    if condition.operator == "NOT IN":
        return ~context.items_in(condition.field, values)
    if len(values) != 1:
        raise FilterValueError(f"{condition.operator} on Items.{condition.field} takes exactly one value")
    return context.items_compare(condition.field, condition.operator, next(iter(values)))


def _user_condition_holds(comparisons: tuple[Comparison, ...], context: FilterContext, bound: dict) -> bool:
    """Whether the current user satisfies every IF comparison; one whose placeholder has no value is left out."""
    for comparison in comparisons:
        values = _resolve(comparison.values, bound)
        if values is None:
            continue
        actual = context.user_value(comparison.field)
        if actual is None:
            return False
        if comparison.operator in ("IN", "NOT IN"):
            # A multi-valued field (A|B) is in the list when any of its values is.
            found = bool(set(actual.split("|")) & values)
            if found != (comparison.operator == "IN"):
                return False
            continue
        if len(values) != 1:
            raise FilterValueError(f"{comparison.operator} on CurrentUser.{comparison.field} takes exactly one value")
        if not _compare(actual, comparison.operator, next(iter(values))):
            return False
    return True


def _compare(actual: str, operator: str, wanted: str) -> bool:
    try:
        left, right = float(actual), float(wanted)
    except ValueError:
        if operator == "=":
            return actual == wanted
        return False  # an order on a value that is not a number holds for nothing
    return {
        "=": left == right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[operator]


def allowed_items(parsed: Filter, context: FilterContext, filter_values: dict[str, str] | None) -> np.ndarray:
    """Boolean mask of the candidates the filter lets through.

    Expressions chained with ``|`` combine as the service documents: the INCLUDE expressions' results are joined
    (Include A | Include B keeps what either keeps), then what any EXCLUDE expression selects is taken away. An
    expression left out (its IF condition does not hold, or all its comparisons await values) counts for nothing.
    """
    import numpy as np

    bound = parse_filter_values(filter_values)
    included: np.ndarray | None = None
    excluded = np.zeros(context.size, dtype=bool)
    for expression in parsed.expressions:
        if expression.user_condition and not _user_condition_holds(expression.user_condition, context, bound):
            continue
        mask = _evaluate(expression.condition, context, bound)
        if mask is None:
            continue
        if expression.action == "INCLUDE":
            included = mask.copy() if included is None else included | mask
        else:
            excluded |= mask
    allowed = np.ones(context.size, dtype=bool) if included is None else included
    return allowed & ~excluded
