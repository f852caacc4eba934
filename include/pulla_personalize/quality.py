"""The Great Expectations gate: suites built in code, run in an ephemeral context, Data Docs written to a folder.

Each expectation is blocking (GX severity ``critical``) or a warning (severity ``warning``). Row-level suites run
on batches of the interactions file (export hands over whole user buckets, so uniqueness per batch is uniqueness
overall) and once on Users and Items. Rules that span the whole Interactions dataset run on small summary tables
built while writing it: one row per user with its interaction count (the custom expectation "at least 25 users
with at least 2 interactions" and the 1,000-interaction minimum), and one row per event type (the limit of 10
event types plus optional columns). Results of all batches are merged into one outcome per expectation and
column, which ``GateResult.summary_lines`` turns into the message a person reads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pulla_personalize import transform
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.rules.sizes import BAND_SIZES, CUP_SIZES

log = logging.getLogger(__name__)

BLOCKING = "critical"
WARNING = "warning"
_EXAMPLES = 5
#: How much lower the GX process's CPU priority is than the export's (nice steps).
_GX_NICENESS = 10


def _gx() -> tuple[Any, Any]:
    # Imported on first use: Great Expectations takes seconds to import and most commands never need it.
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx, gxe


_CUSTOM_EXPECTATION: type | None = None


def enough_users_expectation_class() -> type:
    """The custom expectation class (defined once, on first use, so importing this module stays cheap).

    ``ExpectEnoughUsersWithMinInteractions(column="INTERACTIONS", min_interactions=2, min_value=25)`` runs on a
    table with one row per user and counts the users whose interaction count is at least ``min_interactions``:
    Personalize refuses to train with fewer than 25 such users.
    """
    global _CUSTOM_EXPECTATION
    if _CUSTOM_EXPECTATION is not None:
        return _CUSTOM_EXPECTATION
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import ColumnAggregateExpectation
    from great_expectations.expectations.metrics import ColumnAggregateMetricProvider, column_aggregate_value

    class ColumnValuesAtLeastCount(ColumnAggregateMetricProvider):
        metric_name = "column.pulla_values_at_least.count"
        value_keys = ("min_interactions",)

        @column_aggregate_value(engine=PandasExecutionEngine)
        def _pandas(cls, column: pd.Series, min_interactions: int = 2, **_: Any) -> int:
            return int((pd.to_numeric(column, errors="coerce") >= min_interactions).sum())

    class ExpectEnoughUsersWithMinInteractions(ColumnAggregateExpectation):
        """At least ``min_value`` rows (users) whose column value (interaction count) is ≥ ``min_interactions``."""

        min_interactions: int = 2
        min_value: int = 25
        metric_dependencies = ("column.pulla_values_at_least.count",)
        success_keys = ("min_interactions", "min_value")

        def _validate(
            self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None
        ) -> dict[str, Any]:
            observed = metrics["column.pulla_values_at_least.count"]
            return {"success": observed >= self.min_value, "result": {"observed_value": observed}}

    _CUSTOM_EXPECTATION = ExpectEnoughUsersWithMinInteractions
    return _CUSTOM_EXPECTATION


@dataclass
class Outcome:
    """One expectation's merged result over every batch it ran on."""

    dataset: str
    expectation: str
    column: str | None
    blocking: bool
    success: bool = True
    observed: Any = None
    element_count: int = 0
    unexpected_count: int = 0
    examples: list[Any] = field(default_factory=list)
    details: str = ""
    expected: str = ""

    def merge(self, success: bool, result: dict[str, Any], details: str) -> None:
        self.success = self.success and success
        if "observed_value" in result:
            self.observed = result["observed_value"]
        self.element_count += int(result.get("element_count") or 0)
        self.unexpected_count += int(result.get("unexpected_count") or 0)
        for example in result.get("partial_unexpected_list") or []:
            if len(self.examples) < _EXAMPLES:
                self.examples.append(example)
        if details and not self.details:
            self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "expectation": self.expectation,
            "column": self.column,
            "blocking": self.blocking,
            "success": self.success,
            "observed": _jsonable(self.observed),
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "examples": [_jsonable(example) for example in self.examples],
            "details": self.details,
            "expected": self.expected,
        }

    def describe(self) -> str:
        column = f".{self.column}" if self.column else ""
        parts = [f"{self.expectation} on {self.dataset}{column}"]
        if self.expected:
            parts.append(f"expected {self.expected}")
        if self.observed is not None:
            parts.append(f"observed {_jsonable(self.observed)}")
        if self.unexpected_count:
            parts.append(f"{self.unexpected_count} of {self.element_count} rows unexpected")
        if self.examples:
            parts.append("examples " + ", ".join(repr(_jsonable(example)) for example in self.examples))
        if self.details:
            parts.append(self.details)
        return ": ".join(parts[:1]) + (": " + "; ".join(parts[1:]) if len(parts) > 1 else "")


_NOT_EXPECTATIONS = {
    "column",
    "column_list",
    "column_A",
    "column_B",
    "batch_id",
    "result_format",
    "catch_exceptions",
    "meta",
}


def _expected_text(config: Any) -> str:
    """What the expectation asks for, in words a person reads in the summary: its description, or its kwargs."""
    description = getattr(config, "description", None)
    if description:
        return str(description)
    parts = []
    for name, value in config.kwargs.items():
        if name in _NOT_EXPECTATIONS or value is None:
            continue
        shown = value
        if isinstance(value, list | tuple | set) and len(value) > 10:
            shown = f"[{len(value)} values]"
        parts.append(f"{name}={shown}")
    return ", ".join(parts)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if value is pd.NA or (isinstance(value, float) and value != value):  # a missing value is JSON null, not NaN
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


@dataclass
class GateResult:
    outcomes: list[Outcome]

    @property
    def passed(self) -> bool:
        return all(outcome.success for outcome in self.outcomes if outcome.blocking)

    @property
    def blocking_failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.blocking and not outcome.success]

    @property
    def warnings(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.blocking and not outcome.success]

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "evaluated": len(self.outcomes),
            "blocking_failures": [outcome.describe() for outcome in self.blocking_failures],
            "warnings": [outcome.describe() for outcome in self.warnings],
            "expectations": [outcome.as_dict() for outcome in self.outcomes],
        }

    def summary_lines(self) -> list[str]:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"validation {verdict}: {len(self.outcomes)} expectations, "
            f"{len(self.blocking_failures)} blocking failures, {len(self.warnings)} warnings"
        ]
        lines += [f"  BLOCKING {outcome.describe()}" for outcome in self.blocking_failures]
        lines += [f"  warning  {outcome.describe()}" for outcome in self.warnings]
        return lines


@dataclass(frozen=True)
class Bounds:
    """Allowed epoch-second ranges: interactions inside the window and not older than the retention limit,
    creation times from earliest to window end."""

    earliest: int
    window_start: int
    window_end: int
    #: The oldest TIMESTAMP an interaction may have (``rules.interactions.retention_start``); None: no limit.
    retained_from: int | None = None

    @property
    def interactions_from(self) -> int:
        """The first second an exported interaction may have: the window start, or the retention limit when the
        window reaches further back."""
        return max(self.window_start, self.retained_from if self.retained_from is not None else self.window_start)


def _lengths(gxe: Any, column: str, limit: int, severity: str = BLOCKING) -> Any:
    return gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=1, max_value=limit, severity=severity)


def _no_separators(gxe: Any, column: str) -> Any:
    # A "|" would split a single value in two; a line break would split the record.
    return gxe.ExpectColumnValuesToNotMatchRegex(column=column, regex=r"[|\r\n]", severity=BLOCKING)


def _multi_value_regex(values: Iterable[str]) -> str:
    one = "|".join(sorted(values, key=len, reverse=True))
    return rf"^(?:{one})(?:\|(?:{one}))*$"


def interactions_expectations(fields: list[str], settings: ExportSettings, bounds: Bounds) -> list[Any]:
    _, gxe = _gx()
    expectations = [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=fields, severity=BLOCKING),
        *(
            gxe.ExpectColumnValuesToNotBeNull(column=column, severity=BLOCKING)
            for column in ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE")
        ),
        gxe.ExpectColumnValuesToBeInSet(column="EVENT_TYPE", value_set=list(transform.EVENT_TYPES), severity=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="DEVICE", value_set=list(transform.DEVICES), severity=BLOCKING),
        gxe.ExpectColumnValuesToBeBetween(
            column="TIMESTAMP", min_value=bounds.interactions_from, max_value=bounds.window_end - 1, severity=BLOCKING
        ),
        gxe.ExpectColumnValuesToBeBetween(column="EVENT_VALUE", min_value=0, severity=BLOCKING),
        _lengths(gxe, "USER_ID", settings.max_id_length),
        _lengths(gxe, "ITEM_ID", settings.max_id_length),
        _lengths(gxe, "DEVICE", settings.max_categorical_length),
        _no_separators(gxe, "USER_ID"),
        _no_separators(gxe, "ITEM_ID"),
        _no_separators(gxe, "DEVICE"),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"], severity=BLOCKING
        ),
    ]
    return expectations


#: The column of the interaction_items table that holds each id as Items has it (empty when Items lacks it).
ITEMS_ITEM_ID = "ITEMS_ITEM_ID"


def interaction_items_table(interaction_item_ids: Iterable[Any], catalogue_ids: Iterable[Any]) -> pd.DataFrame:
    """The distinct ITEM_IDs of Interactions, sorted, beside ``ITEMS_ITEM_ID``: the same id looked up in Items
    (a left join), empty when Items has no such item."""
    ids = pd.Series(sorted({str(item) for item in interaction_item_ids}), dtype="str")
    found = ids.isin(pd.Series(list(catalogue_ids), dtype="str").unique())
    return pd.DataFrame({"ITEM_ID": ids, ITEMS_ITEM_ID: ids.where(found)})


def interaction_items_expectations() -> list[Any]:
    """For ``interaction_items_table``: each item of Interactions should be in Items (a warning: Personalize
    accepts interactions on items it has no metadata for). A pair check on the joined table costs the same
    for any catalogue; a value set of the whole catalogue made GX copy it into every configuration it built
    (0.9 s at 3,000 items, seconds at 30,000)."""
    _, gxe = _gx()
    return [
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="ITEM_ID",
            column_B=ITEMS_ITEM_ID,
            severity=WARNING,
            description="every item of Interactions is in Items (counts are distinct items; examples are"
            " [ITEM_ID, its id in Items])",
        )
    ]


def interaction_totals_expectations(settings: ExportSettings) -> list[Any]:
    _, gxe = _gx()
    enough_users = enough_users_expectation_class()
    return [
        gxe.ExpectColumnSumToBeBetween(
            column="INTERACTIONS",
            min_value=settings.min_interactions,
            severity=BLOCKING,
            description=f"at least {settings.min_interactions} interactions in total (Personalize's training minimum)",
        ),
        enough_users(
            column="INTERACTIONS",
            min_interactions=2,
            min_value=settings.min_users_with_two_interactions,
            severity=BLOCKING,
            description=(
                f"at least {settings.min_users_with_two_interactions} users with at least 2 interactions each"
                " (Personalize: 'Dataset has fewer than 25 users with at least 2 interactions each')"
            ),
        ),
        gxe.ExpectColumnValuesToBeUnique(column="USER_ID", severity=BLOCKING),
    ]


def event_type_expectations(settings: ExportSettings, optional_columns: int) -> list[Any]:
    _, gxe = _gx()
    return [
        gxe.ExpectTableRowCountToBeBetween(
            max_value=settings.max_event_types_plus_optional_columns - optional_columns,
            severity=BLOCKING,
            description=(
                f"at most {settings.max_event_types_plus_optional_columns - optional_columns} distinct event types"
                f" ({settings.max_event_types_plus_optional_columns} minus {optional_columns} optional columns)"
            ),
        )
    ]


def users_expectations(fields: list[str], settings: ExportSettings) -> list[Any]:
    _, gxe = _gx()
    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=fields, severity=BLOCKING),
        gxe.ExpectTableColumnCountToBeBetween(max_value=1 + settings.users_metadata_limit, severity=BLOCKING),
        gxe.ExpectColumnValuesToNotBeNull(column="USER_ID", severity=BLOCKING),
        gxe.ExpectColumnValuesToBeUnique(column="USER_ID", severity=BLOCKING),
        _lengths(gxe, "USER_ID", settings.max_id_length),
        _no_separators(gxe, "USER_ID"),
        gxe.ExpectColumnValuesToBeBetween(column="AGE", min_value=0, max_value=130, severity=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="CUP_SIZE", value_set=list(CUP_SIZES), severity=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="BAND_SIZE", value_set=list(BAND_SIZES), severity=BLOCKING),
    ]


ITEM_CATEGORICALS = ("CUP_SIZE", "BAND_SIZE", "WIRE", "BRARET", "CUP_TYPE", "GORE_HEIGHT", "GORE_WIDTH")


def items_expectations(fields: list[str], settings: ExportSettings, bounds: Bounds) -> list[Any]:
    _, gxe = _gx()
    categoricals = [name for name in fields if name not in ("ITEM_ID", "CREATION_TIMESTAMP")]
    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=fields, severity=BLOCKING),
        gxe.ExpectTableColumnCountToBeBetween(max_value=2 + settings.items_metadata_limit, severity=BLOCKING),
        gxe.ExpectColumnValuesToNotBeNull(column="ITEM_ID", severity=BLOCKING),
        gxe.ExpectColumnValuesToBeUnique(column="ITEM_ID", severity=BLOCKING),
        _lengths(gxe, "ITEM_ID", settings.max_id_length),
        _no_separators(gxe, "ITEM_ID"),
        gxe.ExpectColumnValuesToNotBeNull(column="CREATION_TIMESTAMP", severity=BLOCKING),
        gxe.ExpectColumnValuesToBeBetween(
            column="CREATION_TIMESTAMP", min_value=bounds.earliest, max_value=bounds.window_end - 1, severity=BLOCKING
        ),
        gxe.ExpectColumnValuesToMatchRegex(column="CUP_SIZE", regex=_multi_value_regex(CUP_SIZES), severity=BLOCKING),
        gxe.ExpectColumnValuesToMatchRegex(column="BAND_SIZE", regex=_multi_value_regex(BAND_SIZES), severity=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="WIRE", value_set=["True", "False"], severity=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="BRARET", value_set=["True", "False"], severity=BLOCKING),
        *(_lengths(gxe, name, settings.max_categorical_length) for name in categoricals),
        *(
            gxe.ExpectColumnValuesToNotMatchRegex(column=name, regex=r"[\r\n]", severity=BLOCKING)
            for name in categoricals
        ),
    ]


class QualityGate:
    """Runs suites on batches and collects merged outcomes; writes Data Docs into ``docs_dir`` when given."""

    def __init__(self, docs_dir: Path | None = None) -> None:
        gx, _ = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # The ephemeral context's default site lives in a random temp folder; ours lives next to the report.
        for site in list(self.context.get_config().data_docs_sites or {}):
            self.context.delete_data_docs_site(site)
        self.docs_dir = docs_dir
        if docs_dir is not None:
            self.context.add_data_docs_site(
                site_name="pulla",
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self._source = self.context.data_sources.add_pandas(name="pulla")
        self._checkpoints: dict[str, Any] = {}
        self._outcomes: dict[tuple[str, str, str | None, str], Outcome] = {}
        self.extra: list[Outcome] = []

    def prepare(self, dataset: str, expectations: list[Any]) -> None:
        """Builds ``dataset``'s suite and checkpoint now (the first ``validate`` would otherwise)."""
        self._checkpoint(dataset, expectations)

    def _checkpoint(self, dataset: str, expectations: list[Any]) -> Any:
        if dataset not in self._checkpoints:
            gx = self._gx
            batch = self._source.add_dataframe_asset(name=dataset).add_batch_definition_whole_dataframe("whole")
            suite = self.context.suites.add(gx.ExpectationSuite(name=f"pulla_{dataset}", expectations=expectations))
            definition = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=f"pulla_{dataset}", data=batch, suite=suite)
            )
            self._checkpoints[dataset] = self.context.checkpoints.add(
                gx.Checkpoint(
                    name=f"pulla_{dataset}",
                    validation_definitions=[definition],
                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": _EXAMPLES},
                    # Docs are built once at the end (write_docs): rebuilding the site after every batch
                    # cost more than the validation itself.
                    actions=[],
                )
            )
        return self._checkpoints[dataset]

    def validate(self, dataset: str, frame: pd.DataFrame, expectations: list[Any]) -> None:
        """Validates one batch of ``dataset`` (the suite is built on the first call and reused)."""
        checkpoint = self._checkpoint(dataset, expectations)
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        for run_result in result.run_results.values():
            for item in run_result.results:
                config = item.expectation_config
                kwargs = config.kwargs
                columns = kwargs.get("column_list") or [
                    kwargs[name] for name in ("column_A", "column_B") if name in kwargs
                ]
                column = kwargs.get("column") or ",".join(columns) or None
                severity = getattr(config, "severity", None)
                blocking = str(getattr(severity, "value", severity) or BLOCKING) == BLOCKING
                key = (dataset, config.type, column, repr(sorted(kwargs.items())))
                if key not in self._outcomes:
                    self._outcomes[key] = Outcome(
                        dataset, config.type, column, blocking, expected=_expected_text(config)
                    )
                outcome = self._outcomes[key]
                details = ""
                if item.exception_info and item.exception_info.get("raised_exception"):
                    details = "could not be evaluated: " + str(item.exception_info.get("exception_message"))
                outcome.merge(bool(item.success), dict(item.result or {}), details)

    def write_docs(self) -> Path | None:
        """Builds the Data Docs site from every validation run so far; returns its index.html (None: no docs)."""
        if self.docs_dir is None:
            return None
        self.context.build_data_docs(site_names=["pulla"])
        return self.docs_dir / "index.html"

    def record(self, outcome: Outcome) -> None:
        """Adds a check made outside GX (schema lint, CSV shape) to the result."""
        self.extra.append(outcome)

    def result(self) -> GateResult:
        return GateResult([*self.extra, *self._outcomes.values()])


#: A suite builder of this module and its arguments: sent to the gate process, which builds the suite there.
SuiteSpec = tuple[Any, tuple[Any, ...]]


class BackgroundGate:
    """A ``QualityGate`` in a child process, so Great Expectations runs beside the export instead of in its way.

    Importing GX alone takes seconds of CPU and its pandas checks are per-value Python; in a child process both
    overlap the extraction and transforms. The child is a plain interpreter running this module's ``main``
    (``child_process.start``), so it works under any caller, an Airflow task runner or a Celery worker included,
    and inherits no database connection. It starts at once, at a lower CPU priority (the export's own work is the
    critical path; GX catches up on what is left of the cores), imports GX, and builds the suites ``prepare``
    announced, so a batch that arrives later meets a ready checkpoint. ``validate`` hands a batch over, blocking
    only while ``_BATCH_SLOTS`` batches wait, so memory stays bounded; ``finish`` builds the Data Docs there and
    returns every outcome in the order a ``QualityGate`` would give them. Suites travel as (builder function,
    arguments) and are built in the child, so the export process never imports GX. Requests and replies are
    pickled frames on the child's stdin and stdout, written and read by one thread each, so the caller never
    waits for a pipe. ``blocked_seconds`` is the time the caller spent waiting for the child: what GX adds to the
    export's wall time. ``busy_seconds`` (after ``finish``) is the child's own CPU time.
    """

    _POLL_SECONDS = 0.5
    _BATCH_SLOTS = 2

    def __init__(self, docs_dir: Path | None = None) -> None:
        import queue
        import threading

        from pulla_personalize import child_process

        self._child = child_process.start(__name__, niceness=_GX_NICENESS)
        self._slots = threading.BoundedSemaphore(self._BATCH_SLOTS)
        self._outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._replies: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._writer = threading.Thread(target=self._send, name="pulla-gx-writer", daemon=True)
        self._reader = threading.Thread(target=self._receive, name="pulla-gx-reader", daemon=True)
        self._writer.start()
        self._reader.start()
        self._outbox.put(("start", docs_dir))
        self.docs_dir = docs_dir
        self.extra: list[Outcome] = []
        self.blocked_seconds = 0.0
        self.busy_seconds = 0.0
        self._outcomes: list[Outcome] | None = None

    @property
    def pid(self) -> int:
        return self._child.pid

    def prepare(self, suites: dict[str, SuiteSpec]) -> None:
        """Has the child build these datasets' suites as soon as GX is imported (never blocks)."""
        self._outbox.put(("prepare", suites))

    def validate(self, dataset: str, frame: pd.DataFrame, suite: SuiteSpec) -> None:
        """Queues one batch of ``dataset``; ``suite`` is (builder, args), built once per dataset in the child."""
        self._wait(self._slots.acquire)
        self._outbox.put(("validate", dataset, frame, suite))

    def record(self, outcome: Outcome) -> None:
        """Adds a check made outside GX (schema lint, CSV shape) to the result."""
        self.extra.append(outcome)

    def finish(self) -> None:
        """Waits for every queued batch, builds the Data Docs, and collects the outcomes."""
        if self._outcomes is not None:
            return
        self._outbox.put(("finish",))
        reply = self._wait(self._reply)
        self._outcomes, self.busy_seconds = reply[1], reply[2]

    def result(self) -> GateResult:
        self.finish()
        return GateResult([*self.extra, *(self._outcomes or [])])

    def close(self) -> None:
        """Stops the child if it still runs (an export that failed half-way); after ``finish`` it ends by itself."""
        from pulla_personalize import child_process

        self._outbox.put(None)  # the writer closes the child's stdin: a child waiting for a request leaves
        if self._outcomes is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.wait(timeout=self._POLL_SECONDS)
        child_process.stop(self._child)
        self._writer.join(timeout=self._POLL_SECONDS)
        self._reader.join(timeout=self._POLL_SECONDS)

    def _send(self) -> None:
        """The writer thread: pickles each request onto the child's stdin (a batch may take a while to cross)."""
        from pulla_personalize.child_process import write_frame

        assert self._child.stdin is not None
        fd = self._child.stdin.fileno()
        try:
            while (message := self._outbox.get()) is not None:
                write_frame(fd, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
                del message  # a batch's memory goes as soon as it is in the pipe
        except OSError:  # the child is gone; the caller learns why from the reader
            pass
        finally:
            with contextlib.suppress(OSError):
                self._child.stdin.close()

    def _receive(self) -> None:
        """The reader thread: a freed batch slot gives the caller one back; anything else is the final reply."""
        from pulla_personalize.child_process import read_frame

        assert self._child.stdout is not None
        fd = self._child.stdout.fileno()
        try:
            while (frame := read_frame(fd)) is not None:
                reply = pickle.loads(frame)
                if reply[0] == "slot":
                    self._slots.release()
                else:
                    self._replies.put(reply)
        except (OSError, ValueError):  # our end was closed by close()
            pass
        self._replies.put(("exited",))

    def _reply(self, timeout: float) -> tuple[Any, ...] | None:
        import queue

        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            return None
        if reply[0] == "done":
            return reply
        if reply[0] == "error":
            raise RuntimeError(f"the Great Expectations process failed:\n{reply[1]}")
        if reply[0] == "oserror":  # a file it could not write (a full disk): raised as the export's own would be
            raise OSError(*reply[1:])
        raise RuntimeError(f"the Great Expectations process failed:\nexit code {self._child.wait()}")

    def _wait(self, attempt: Any) -> Any:
        """Calls ``attempt(timeout=...)`` until it gives something; a reply of the child in between (it can only
        be a failure before ``finish``) is raised."""
        import time

        started = time.perf_counter()
        try:
            while not (outcome := attempt(timeout=self._POLL_SECONDS)):
                if attempt != self._reply and not self._replies.empty():
                    self._reply(0)  # raises: the child failed or died
            return outcome
        finally:
            self.blocked_seconds += time.perf_counter() - started


def _thread_lock_for_progress_bars() -> None:
    """GX builds tqdm progress bars even when they are off, and tqdm's default lock is a multiprocessing lock;
    this process leaves with ``os._exit``, which would leave that lock to the resource tracker (a "leaked
    semaphore" warning at shutdown). One process, one thread of GX: a thread lock serves."""
    import threading

    try:
        from tqdm import tqdm
    except ImportError:  # a GX without tqdm creates no such lock
        return
    tqdm.set_lock(threading.RLock())


def main() -> None:
    """The GX child (``BackgroundGate``): requests from stdin until "finish", replies on a private stdout; then
    it leaves at once (tearing down GX's thousands of modules is time the export would wait). A closed stdin (the
    export failed or went away) ends it too."""
    import sys
    import time
    import traceback

    from pulla_personalize.child_process import private_stdout, read_frame, write_frame
    from pulla_personalize.csvout import naming_file

    replies = private_stdout()
    requests = sys.stdin.fileno()
    started = time.process_time()
    try:
        _thread_lock_for_progress_bars()
        gate: QualityGate | None = None
        suites: dict[str, list[Any]] = {}

        def suite(dataset: str, spec: SuiteSpec) -> list[Any]:
            if dataset not in suites:
                builder, args = spec
                suites[dataset] = builder(*args)
                gate.prepare(dataset, suites[dataset])
            return suites[dataset]

        while (frame := read_frame(requests)) is not None:
            message = pickle.loads(frame)
            del frame
            if message[0] == "start":
                gate = QualityGate(message[1])
            elif message[0] == "prepare":
                for dataset, spec in message[1].items():
                    suite(dataset, spec)
            elif message[0] == "validate":
                _, dataset, batch, spec = message
                gate.validate(dataset, batch, suite(dataset, spec))
                del message, batch  # the batch's memory goes before its slot is given back
                write_frame(replies, pickle.dumps(("slot",)))
            else:  # finish
                # A failed write names no file: the Data Docs folder is the one the export can point at.
                with naming_file(gate.docs_dir or Path("data_docs")):
                    gate.write_docs()
                outcomes = list(gate._outcomes.values())
                write_frame(replies, pickle.dumps(("done", outcomes, time.process_time() - started)))
                break
    except BaseException as error:
        if isinstance(error, OSError) and error.filename is not None:
            # Not a bug of the checks but a file that could not be written (a full disk): the export reports it
            # in one line naming the file.
            reply: tuple[Any, ...] = ("oserror", error.errno, error.strerror, error.filename)
        else:
            reply = ("error", traceback.format_exc())
        with contextlib.suppress(OSError):
            write_frame(replies, pickle.dumps(reply))
    os._exit(0)
