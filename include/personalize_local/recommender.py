"""Serving recommendations from a trained model, as a User-Personalization campaign does.

- Known users: their ALS factors score every item. Events streamed after training move the user's vector in
  real time (a least-squares solve against the fixed item factors, as ALS does for one user).
- Users without history, or with only anonymous session events (pass the sessionId as userId): the session's
  events give a vector when there are any; otherwise popular items, those that fit the user's CUP_SIZE and
  BAND_SIZE first when the Users dataset has them.
- Exploration (docs/personalize-rules.md section 6): items no older than ``explorationItemAgeCutOff`` days, measured
  back from the latest interaction in the training data (age from CREATION_TIMESTAMP, else the item's oldest
  interaction, else it counts as new), take up to ``round(numResults * explorationWeight / 2)`` slots, spread
  evenly through the list; 0 turns exploration off. Explored items that fit the user's sizes come first, then
  the most relevant; items the model has never seen, newest first. An item the user was shown in a PutEvents
  impression (given, or the list of the recommendationId the event names) and never interacted with is not explored
  for her again: the service, too, uses impressions to explore less what was shown and not chosen.
- Filters narrow the candidates before ranking (see filters.py).
- Scores are a softmax over all candidate items, so they are comparable within one response as the service's are.
- SIMS models (RELATED_ITEMS): :meth:`ServingIndex.related` ranks by co-occurrence with the given item; an item
  the model never saw gets popular items, as a user never seen does.
- Personalized-Ranking: :meth:`ServingIndex.rank_input` orders the request's items by the user's scores, a softmax
  over those items only; items the training never saw come last, in the request's order, with score 0 (the
  service's documentation: "appended to the end of the reranked list", "receives a score of 0").
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from personalize_local.filters import ANY_EVENT_TYPE, Filter, allowed_items
from personalize_local.trainer import POPULARITY_RECIPE, SIMS_RECIPE

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pandas as pd

    from personalize_local.trainer import TrainedModel

DEFAULT_EXPLORATION_WEIGHT = 0.3
DEFAULT_EXPLORATION_AGE_CUTOFF_DAYS = 30.0
SECONDS_PER_DAY = 86_400
SIZE_FIELDS = ("CUP_SIZE", "BAND_SIZE")
COLD_START_CACHE_SIZE = 4096


@dataclass
class LiveHistory:
    """Interactions per user id and per session id, bulk and streamed, for filters and real-time updates."""

    by_key: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)  # key -> [(item, type, ts)]
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: key -> the newest timestamp in its history, so "anything since training?" needs no scan of the history.
    newest: dict[str, int] = field(default_factory=dict)
    #: key -> items shown to it (PutEvents' impressions), for exploration.
    shown: dict[str, set[str]] = field(default_factory=dict)

    def add_impression(self, keys: tuple[str, ...], items: list[str]) -> None:
        with self.lock:
            for key in keys:
                if key:
                    self.shown.setdefault(key, set()).update(items)

    def ignored(self, key: str) -> set[str]:
        """Items shown to the key in an impression that it never interacted with."""
        with self.lock:
            shown = self.shown.get(key)
            if not shown:
                return set()
            return shown - {item for item, _, _ in self.by_key.get(key, ())}

    def add(self, keys: tuple[str, ...], item_id: str, event_type: str, timestamp: int) -> None:
        with self.lock:
            for key in keys:
                if key:
                    self.by_key.setdefault(key, []).append((item_id, event_type, timestamp))
                    if timestamp > self.newest.get(key, timestamp - 1):
                        self.newest[key] = timestamp

    def get(self, key: str) -> list[tuple[str, str, int]]:
        with self.lock:
            return list(self.by_key.get(key, ()))

    def since(self, key: str, timestamp: int) -> list[tuple[str, str, int]]:
        """The key's events newer than ``timestamp`` (those streamed after training), oldest stored first."""
        if self.newest.get(key, timestamp) <= timestamp:
            return []
        return [event for event in self.get(key) if event[2] > timestamp]


def build_history(interactions: pd.DataFrame | None, events: pd.DataFrame | None) -> LiveHistory:
    """Bulk interactions keyed by user; streamed events keyed by user and by session."""
    history = LiveHistory()
    if interactions is not None and len(interactions):
        types = interactions["EVENT_TYPE"] if "EVENT_TYPE" in interactions else [""] * len(interactions)
        timestamps = interactions["TIMESTAMP"].astype("int64")
        for user, item, event_type, ts in zip(
            interactions["USER_ID"], interactions["ITEM_ID"], types, timestamps, strict=True
        ):
            history.by_key.setdefault(user, []).append((item, event_type, int(ts)))
        newest = interactions.assign(_ts=timestamps).groupby("USER_ID", sort=False)["_ts"].max()
        history.newest.update(zip(newest.index, newest.astype("int64").tolist(), strict=True))
    if events is not None and len(events):
        for user, session, item, event_type, ts in zip(
            events["USER_ID"],
            events["SESSION_ID"],
            events["ITEM_ID"],
            events["EVENT_TYPE"],
            events["TIMESTAMP"].astype("int64"),
            strict=True,
        ):
            if item:
                history.add((user, session), item, event_type, int(ts))
        if "PROPERTIES" in events:
            with_impression = events[events["PROPERTIES"].str.contains('"IMPRESSION"', regex=False)]
            for user, session, properties in zip(
                with_impression["USER_ID"], with_impression["SESSION_ID"], with_impression["PROPERTIES"], strict=True
            ):
                history.add_impression((user, session), impression_of(properties))
    return history


def impression_of(properties: str) -> list[str]:
    """The items of an event's impression, from the events file's PROPERTIES ({"IMPRESSION": "a|b"}); [] if none."""
    if '"IMPRESSION"' not in properties:
        return []
    value = json.loads(properties).get("IMPRESSION") or ""
    return value.split("|") if value else []


@dataclass(frozen=True)
class ExplorationConfig:
    weight: float = DEFAULT_EXPLORATION_WEIGHT
    age_cutoff_days: float = DEFAULT_EXPLORATION_AGE_CUTOFF_DAYS

    @classmethod
    def from_campaign_config(cls, campaign_config: dict | None) -> ExplorationConfig:
        """Reads itemExplorationConfig; raises ValueError for values the service would refuse."""
        raw = (campaign_config or {}).get("itemExplorationConfig") or {}
        weight = float(raw.get("explorationWeight", DEFAULT_EXPLORATION_WEIGHT))
        cutoff = float(raw.get("explorationItemAgeCutOff", DEFAULT_EXPLORATION_AGE_CUTOFF_DAYS))
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"explorationWeight must be between 0 and 1, got {weight}")
        if cutoff <= 0:
            raise ValueError(f"explorationItemAgeCutOff must be a positive number of days, got {cutoff}")
        return cls(weight, cutoff)


def _event_type_test(event_types: set[str], *, listed: bool) -> Callable[[str], bool]:
    """Whether an event's type is (``listed``) or is not among a filter's types: given lower-cased, matched
    ignoring case, ``*`` standing for every type."""
    if ANY_EVENT_TYPE in event_types:
        return lambda event_type: listed
    return lambda event_type: (event_type.lower() in event_types) == listed


class _RequestFilterContext:
    """FilterContext over the serving universe for one user.

    Field names are matched to the data's columns ignoring case, as the service matches a filter's fields to the
    schema's; event types, given lower-cased, are matched ignoring case, ``*`` standing for every type.
    """

    def __init__(self, index: ServingIndex, history: list[tuple[str, str, int]], user_id: str) -> None:
        self.index = index
        self.size = index.size
        self.history = history
        self.user_id = user_id

    def items_in(self, field: str, values: set[str]) -> np.ndarray:
        return self.index.items_in(self.index.item_column(field), values)

    def items_compare(self, field: str, operator: str, value: str) -> np.ndarray:
        return self.index.items_compare(self.index.item_column(field), operator, value)

    def _interacted(self, keep) -> np.ndarray:
        import numpy as np

        mask = np.zeros(self.size, dtype=bool)
        positions = [self.index.position.get(item) for item, event_type, _ in self.history if keep(event_type)]
        mask[[p for p in positions if p is not None]] = True
        return mask

    def interacted_with(self, event_types: set[str]) -> np.ndarray:
        return self._interacted(_event_type_test(event_types, listed=True))

    def interacted_with_other_than(self, event_types: set[str]) -> np.ndarray:
        return self._interacted(_event_type_test(event_types, listed=False))

    def user_value(self, field: str) -> str | None:
        record = self.index.user_records.get(self.user_id)
        if not record:
            return None
        value = record.get(field.upper())
        return value or None


class _OutsideItemsContext:
    """FilterContext over items the serving universe does not hold (a ranking's input may name any item): they have
    no metadata, so no Items condition holds for them, but the user's history may still hold them. Interactions and
    CurrentUser conditions read as :class:`_RequestFilterContext` reads them."""

    def __init__(self, items: list[str], history: list[tuple[str, str, int]], user: _RequestFilterContext) -> None:
        self.items = items
        self.size = len(items)
        self.history = history or []
        self.user = user

    def items_in(self, field: str, values: set[str]) -> np.ndarray:
        import numpy as np

        return np.zeros(self.size, dtype=bool)

    def items_compare(self, field: str, operator: str, value: str) -> np.ndarray:
        return self.items_in(field, {value})

    def _interacted(self, keep) -> np.ndarray:
        import numpy as np

        met = {item for item, event_type, _ in self.history if keep(event_type)}
        return np.array([item in met for item in self.items], dtype=bool)

    def interacted_with(self, event_types: set[str]) -> np.ndarray:
        return self._interacted(_event_type_test(event_types, listed=True))

    def interacted_with_other_than(self, event_types: set[str]) -> np.ndarray:
        return self._interacted(_event_type_test(event_types, listed=False))

    def user_value(self, field: str) -> str | None:
        return self.user.user_value(field)


class ServingIndex:
    """A trained model joined with the dataset group's current item and user data, ready to answer quickly."""

    def __init__(
        self,
        model: TrainedModel,
        items: pd.DataFrame | None,
        users: pd.DataFrame | None,
        history: LiveHistory,
        *,
        alpha: float,
    ) -> None:
        import numpy as np
        import pandas as pd

        self.model = model
        self.history = history
        self.alpha = alpha
        model_items = [str(item) for item in model.item_ids]
        extra = []
        if items is not None and len(items):
            known = set(model_items)
            extra = [item for item in items["ITEM_ID"].drop_duplicates() if item not in known]
        self.item_ids = np.array(model_items + extra, dtype=object)
        self.item_id_list: list[str] = model_items + extra  # plain list: indexing it per result is cheap
        self.size = len(self.item_ids)
        self.model_size = len(model_items)
        self.position = {item: i for i, item in enumerate(self.item_ids)}
        self.user_position = {str(user): i for i, user in enumerate(model.user_ids)}
        self.popularity = np.zeros(self.size, dtype=np.float64)
        self.popularity[: self.model_size] = model.item_popularity
        # Item metadata aligned with the universe: '' where unknown.
        self.metadata: dict[str, np.ndarray] = {}
        creation = np.full(self.size, -1, dtype=np.int64)
        if items is not None and len(items):
            aligned = items.drop_duplicates("ITEM_ID", keep="last").set_index("ITEM_ID").reindex(self.item_ids)
            for column in aligned.columns:
                self.metadata[column] = aligned[column].fillna("").astype(str).to_numpy(dtype=object)
            if "CREATION_TIMESTAMP" in aligned:
                stamps = pd.to_numeric(aligned["CREATION_TIMESTAMP"].replace("", None), errors="coerce")
                creation = stamps.fillna(-1).to_numpy(dtype=np.int64)
        # Age: creation timestamp, else the oldest interaction, else new (the latest interaction time).
        first_seen = np.full(self.size, model.latest_timestamp, dtype=np.int64)
        first_seen[: self.model_size] = model.item_first_seen
        created = np.where(creation >= 0, creation, first_seen)
        self.age_days = (model.latest_timestamp - created) / SECONDS_PER_DAY
        self._inverted: dict[str, dict[str, np.ndarray]] = {}
        # Read-only masks reused across requests (a race only computes one twice).
        self._fits_cache: dict[tuple, np.ndarray] = {}
        self._new_cache: dict[float, np.ndarray] = {}
        self._all_items = np.ones(self.size, dtype=bool)
        self._all_items.flags.writeable = False
        self._lock = threading.Lock()
        # Answers that depend on nothing but the user's sizes (cold start, no filter): computed once per key.
        self._cold_start_answers: dict[tuple, list[tuple[str, float]]] = {}
        self.has_factors = model.recipe != POPULARITY_RECIPE and model.item_factors.shape[1] > 0
        if self.has_factors:
            # Scoring multiplies by a float64 user vector; converting the float32 factors once here instead of on
            # every request gives the very same products.
            self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float64)
            self.gram = self.item_factors.T @ self.item_factors
        self.cooccurrence = None
        if model.recipe == SIMS_RECIPE:
            import scipy.sparse as sp

            from personalize_local.trainer import Cooccurrence

            matrix = sp.csr_matrix(
                (model.user_items_weights, model.user_items_indices, model.user_items_indptr),
                shape=(len(model.user_ids), self.model_size),
            )
            self.cooccurrence = Cooccurrence(matrix)
        self.users: dict[str, dict[str, str]] = {}
        #: user id -> every Users field (upper-cased name -> value, '' left out), for filters' CurrentUser.
        self.user_records: dict[str, dict[str, str]] = {}
        #: upper-cased Items column name -> the column, for filters naming a field in another case.
        self._item_columns = {column.upper(): column for column in self.metadata}
        if users is not None and len(users):
            columns = [column for column in users.columns if column != "USER_ID"]
            last = users.drop_duplicates("USER_ID", keep="last")
            for user_id, *values in zip(last["USER_ID"], *(last[column] for column in columns), strict=True):
                self.user_records[user_id] = {k.upper(): v for k, v in zip(columns, values, strict=True) if v}
            present = [column for column in SIZE_FIELDS if column in users.columns]
            # Columns zipped rather than itertuples, whose per-call namedtuple class is cyclic garbage that only a
            # full collection (a GIL stall) would free.
            latest = users.drop_duplicates("USER_ID", keep="last")
            for user_id, *values in zip(latest["USER_ID"], *(latest[column] for column in present), strict=True):
                self.users[user_id] = {k: v for k, v in zip(present, values, strict=True) if v}

    def item_metadata(self, item_id: str, columns: list[str]) -> dict[str, str]:
        """The item's values in these Items columns (as imported; columns without a value are left out)."""
        position = self.position.get(item_id)
        if position is None:
            return {}
        values = {column: self.metadata[column][position] for column in columns}
        return {column: value for column, value in values.items() if value}

    # ---- item attribute masks -------------------------------------------------------------------------------

    def item_column(self, field: str) -> str:
        """The Items column a filter's field names (any case); the field itself when there is none."""
        return self._item_columns.get(field.upper(), field)

    def _inverted_index(self, field: str) -> dict[str, np.ndarray]:
        import numpy as np

        with self._lock:
            cached = self._inverted.get(field)
            if cached is not None:
                return cached
            positions: dict[str, list[int]] = {}
            for position, value in enumerate(self.metadata.get(field, ())):
                if value:
                    for part in value.split("|"):
                        positions.setdefault(part, []).append(position)
            index = {value: np.array(found, dtype=np.int64) for value, found in positions.items()}
            self._inverted[field] = index
            return index

    def items_in(self, field: str, values: set[str]) -> np.ndarray:
        import numpy as np

        index = self._inverted_index(field)
        mask = np.zeros(self.size, dtype=bool)
        for value in values:
            found = index.get(value)
            if found is not None:
                mask[found] = True
        return mask

    def items_compare(self, field: str, operator: str, value: str) -> np.ndarray:
        import numpy as np
        import pandas as pd

        column = pd.to_numeric(pd.Series(self.metadata.get(field, [""] * self.size)).replace("", None), errors="coerce")
        numbers = column.to_numpy(dtype=np.float64)
        if operator == "=":
            try:
                target = float(value)
            except ValueError:
                return self.items_in(field, {value})
            return numbers == target
        target = float(value)
        with np.errstate(invalid="ignore"):
            return {"<": numbers < target, "<=": numbers <= target, ">": numbers > target, ">=": numbers >= target}[
                operator
            ]

    def fits_sizes(self, user_id: str) -> np.ndarray | None:
        """Items offered in all of the user's sizes (Users CUP_SIZE / BAND_SIZE), or None if we know none."""
        sizes = self.users.get(user_id)
        if not sizes:
            return None
        key = tuple(sorted(sizes.items()))
        mask = self._fits_cache.get(key)
        if mask is None:
            for column, value in key:
                part = self.items_in(column, {value})
                mask = part if mask is None else mask & part
            self._fits_cache[key] = mask
        return mask

    def new_items(self, age_cutoff_days: float) -> np.ndarray:
        """Items young enough to explore."""
        mask = self._new_cache.get(age_cutoff_days)
        if mask is None:
            mask = self.age_days <= age_cutoff_days
            self._new_cache[age_cutoff_days] = mask
        return mask

    # ---- scoring --------------------------------------------------------------------------------------------

    def _solve_user(self, item_weights: dict[int, float]) -> np.ndarray:
        """One ALS half-step: the user vector that best explains these (model item -> weight) interactions."""
        import numpy as np

        factors = self.item_factors
        rows = np.fromiter(item_weights.keys(), dtype=np.int64)
        confidence = self.alpha * np.log1p(np.fromiter(item_weights.values(), dtype=np.float64))
        picked = factors[rows]
        # implicit's equations: A = YtY + reg*I + sum (c - 1) y y^T, b = sum c y with c = alpha * weight.
        a = self.gram + (picked.T * (confidence - 1.0)) @ picked + self.model.regularization * np.eye(factors.shape[1])
        b = (confidence[:, None] * picked).sum(axis=0)
        return np.linalg.solve(a, b)

    def _user_vector(self, user_id: str, event_weights: dict[str, float]) -> np.ndarray | None:
        """The user's (or anonymous session's) factors, moved by events streamed after training; None: cold start."""
        import numpy as np

        if not self.has_factors:
            return None
        row = self.user_position.get(user_id)
        recent = [
            (item, event_type) for item, event_type, _ in self.history.since(user_id, self.model.latest_timestamp)
        ]
        if row is not None or recent:
            weights: dict[int, float] = {}
            if row is not None and recent:
                model = self.model
                start, end = model.user_items_indptr[row], model.user_items_indptr[row + 1]
                for column, value in zip(
                    model.user_items_indices[start:end], model.user_items_weights[start:end], strict=True
                ):
                    weights[int(column)] = float(value)
            for item, event_type in recent:
                position = self.position.get(item)
                if position is not None and position < self.model_size:
                    weights[position] = weights.get(position, 0.0) + event_weights.get(event_type, 1.0)
            if row is not None and not recent:
                return self.model.user_factors[row].astype(np.float64)
            if weights:
                return self._solve_user(weights)
        return None

    def user_scores(
        self, user_id: str, event_weights: dict[str, float], vector: np.ndarray | None = None
    ) -> tuple[np.ndarray, str]:
        """(score per universe item, how it was scored) for this user id (or anonymous session id).

        ``vector``: the user's factors when the caller already has them (from :meth:`_user_vector`).
        """
        import numpy as np

        if vector is None:
            vector = self._user_vector(user_id, event_weights)
        if vector is not None:
            scores = np.full(self.size, -np.inf)
            scores[: self.model_size] = self.item_factors @ vector
            return scores, "personalized"
        # Cold start: popularity, items in the user's sizes first.
        total = self.popularity.sum() or 1.0
        scores = self.popularity / total
        fits = self.fits_sizes(user_id)
        if fits is not None:
            scores = scores + fits.astype(np.float64)
        return scores, "popular"

    def recommend(
        self,
        user_id: str,
        num_results: int,
        *,
        parsed_filter: Filter | None = None,
        filter_values: dict[str, str] | None = None,
        exploration: ExplorationConfig = ExplorationConfig(),
        event_weights: dict[str, float] | None = None,
    ) -> list[tuple[str, float]]:
        """[(itemId, score)] best first, at most num_results."""
        vector = self._user_vector(user_id, event_weights or {})
        if vector is None and parsed_filter is None:
            # A cold-start answer depends only on the user's sizes (not on the id or any history), and the index is
            # rebuilt whenever the model or the item and user data change, so it can be reused as it is.
            sizes = self.users.get(user_id)
            key = (tuple(sorted(sizes.items())) if sizes else None, num_results, exploration)
            answer = self._cold_start_answers.get(key)
            if answer is None:
                answer = self._rank(user_id, num_results, None, None, exploration, event_weights, None)
                if len(self._cold_start_answers) >= COLD_START_CACHE_SIZE:
                    self._cold_start_answers.clear()
                self._cold_start_answers[key] = answer
            return list(answer)
        return self._rank(user_id, num_results, parsed_filter, filter_values, exploration, event_weights, vector)

    def _rank(
        self,
        user_id: str,
        num_results: int,
        parsed_filter: Filter | None,
        filter_values: dict[str, str] | None,
        exploration: ExplorationConfig,
        event_weights: dict[str, float] | None,
        vector: np.ndarray | None,
    ) -> list[tuple[str, float]]:
        scores, _ = self.user_scores(user_id, event_weights or {}, vector)
        return self._rank_scores(scores, user_id, num_results, parsed_filter, filter_values, exploration)

    def _rank_scores(
        self,
        scores: np.ndarray,
        user_id: str,
        num_results: int,
        parsed_filter: Filter | None,
        filter_values: dict[str, str] | None,
        exploration: ExplorationConfig,
    ) -> list[tuple[str, float]]:
        """The best ``num_results`` of these scores (one per universe item) the filter allows, with exploration."""
        import numpy as np

        if parsed_filter is not None:
            context = _RequestFilterContext(self, self.history.get(user_id), user_id)
            allowed = allowed_items(parsed_filter, context, filter_values)
            ranked_scores = np.where(allowed, scores, -np.inf)
        else:
            allowed = self._all_items
            ranked_scores = scores
        finite = np.isfinite(ranked_scores)
        finite_count = int(np.count_nonzero(finite))
        if not finite_count and not allowed.any():
            return []
        count = min(num_results, finite_count)
        if count:
            top = np.argpartition(-ranked_scores, count - 1)[:count]
            top = top[np.argsort(-ranked_scores[top], kind="stable")]
        else:
            top = np.array([], dtype=np.int64)
        chosen = self._explore(top.tolist(), allowed, ranked_scores, num_results, exploration, user_id)
        # Softmax over every candidate, so scores read like the service's (they sum to 1 over the catalog).
        best = float(ranked_scores[top[0]]) if count else 0.0
        if count:
            shifted = ranked_scores[finite]  # a copy: subtract and exponentiate in place
            shifted -= best
            total = float(np.exp(shifted, out=shifted).sum())
        else:
            total = 1.0
        chosen_scores = ranked_scores[chosen] if chosen else np.array([])
        probabilities = np.where(np.isfinite(chosen_scores), np.exp(chosen_scores - best) / total, 0.0).tolist()
        ids = self.item_id_list
        return [(ids[i], round(p, 7)) for i, p in zip(chosen, probabilities, strict=True)]

    def related(
        self,
        item_id: str,
        user_id: str,
        num_results: int,
        *,
        parsed_filter: Filter | None = None,
        filter_values: dict[str, str] | None = None,
    ) -> list[tuple[str, float]]:
        """A SIMS answer: the items that co-occur most with ``item_id``, best first, never the item itself.

        ``user_id`` ('' when the request gave none) is what the filter's Interactions and CurrentUser parts read.
        An item the model never saw gets the most popular items (the service answers such items with popular ones).
        """
        import numpy as np

        if self.cooccurrence is None:
            raise ValueError("the model is not a SIMS model")
        row = self.position.get(item_id)
        if row is not None and row < self.model_size:
            query = np.zeros((1, self.model_size))
            query[0, row] = 1.0
            related = self.cooccurrence.scores(query)[0]
            scores = np.full(self.size, -np.inf)
            # Items that share no user with it are not related: they are left out, not ranked at zero.
            scores[: self.model_size] = np.where(related > 0, related, -np.inf)
            scores[row] = -np.inf
        else:
            total = self.popularity.sum() or 1.0
            scores = self.popularity / total
            if row is not None:
                scores = scores.copy()
                scores[row] = -np.inf
        no_exploration = ExplorationConfig(weight=0.0)
        return self._rank_scores(scores, user_id, num_results, parsed_filter, filter_values, no_exploration)

    def rank_input(
        self,
        user_id: str,
        input_list: list[str],
        *,
        parsed_filter: Filter | None = None,
        filter_values: dict[str, str] | None = None,
        event_weights: dict[str, float] | None = None,
    ) -> list[tuple[str, float]]:
        """A personalized ranking of ``input_list`` for the user: [(itemId, score)], scores a softmax over the known
        input items; items the training never saw last, in input order, score 0; items the filter drops left out."""
        import numpy as np

        scores, _ = self.user_scores(user_id, event_weights or {})
        outside = [item for item in input_list if item not in self.position]
        if parsed_filter is not None:
            context = _RequestFilterContext(self, self.history.get(user_id), user_id)
            allowed = allowed_items(parsed_filter, context, filter_values)
            outside_context = _OutsideItemsContext(outside, self.history.get(user_id), context)
            outside_allowed = allowed_items(parsed_filter, outside_context, filter_values)
            dropped = {item for item, kept in zip(outside, outside_allowed.tolist(), strict=True) if not kept}
        else:
            allowed, dropped = self._all_items, set()
        known: list[tuple[str, float]] = []
        unknown: list[str] = []
        for item in input_list:
            position = self.position.get(item)
            if item in dropped or (position is not None and not allowed[position]):
                continue
            if position is None or position >= self.model_size or not np.isfinite(scores[position]):
                unknown.append(item)
            else:
                known.append((item, float(scores[position])))
        if known:
            values = np.array([score for _, score in known])
            weights = np.exp(values - values.max())
            probabilities = (weights / weights.sum()).tolist()
            order = sorted(range(len(known)), key=lambda i: -values[i])  # stable: ties keep the input order
            ranked = [(known[i][0], round(probabilities[i], 7)) for i in order]
        else:
            ranked = []
        return ranked + [(item, 0.0) for item in unknown]

    def _explore(
        self,
        exploit: list[int],
        allowed: np.ndarray,
        scores: np.ndarray,
        num_results: int,
        exploration: ExplorationConfig,
        user_id: str,
    ) -> list[int]:
        import numpy as np

        slots = round(num_results * exploration.weight / 2)
        if slots == 0 or self.size == 0:
            return exploit[:num_results]
        candidates = allowed & self.new_items(exploration.age_cutoff_days)
        candidates[exploit] = False
        # Items the user was shown (impressions) and passed over are not explored for her again.
        ignored = [self.position[item] for item in self.history.ignored(user_id) if item in self.position]
        candidates[ignored] = False
        found = np.flatnonzero(candidates)
        if found.size == 0:
            return exploit[:num_results]
        fits = self.fits_sizes(user_id)
        # Best first: fits the user's sizes, then most relevant; items the model cannot score, newest first.
        relevance = scores[found]
        priority = np.where(np.isfinite(relevance), relevance, -1e9 - self.age_days[found])
        if fits is not None:
            priority = priority + fits[found] * 1e12
        best = np.argpartition(-priority, slots - 1)[:slots] if found.size > slots else np.arange(found.size)
        explore = found[best[np.argsort(-priority[best], kind="stable")]].tolist()
        kept = exploit[: max(0, num_results - len(explore))]
        # Spread the explored items evenly through the list.
        total = len(kept) + len(explore)
        explore_at = {(j + 1) * total // (len(explore) + 1) for j in range(len(explore))}
        explore_iter, kept_iter = iter(explore), iter(kept)
        merged = [next(explore_iter) if i in explore_at else next(kept_iter, None) for i in range(total)]
        leftovers = [*explore_iter, *kept_iter]
        merged = [item if item is not None else leftovers.pop(0) for item in merged]
        return merged[:num_results]


class UserSegmenter:
    """Users for an item, as an Item-Affinity batch segment job finds them: the users whose liking of this item most
    exceeds their liking of an average item (ALS factors: the user's vector against the item's vector minus the mean
    item vector), best first. Without the mean taken off, the most active users top every segment whatever the item
    (their vectors are longest), and a launch audience would ignore what the item is, sizes included. Users a data
    deletion took out of the model are not in it."""

    def __init__(self, model: TrainedModel) -> None:
        import numpy as np

        if model.item_factors.shape[1] == 0:
            raise ValueError("the model has no factors to score users with")
        self.model = model
        self.user_ids: list[str] = [str(user) for user in model.user_ids]
        self.item_position = {str(item): i for i, item in enumerate(model.item_ids)}
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float64)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float64)
        self.mean_item = self.item_factors.mean(axis=0)

    def top_users(self, item_id: str, num_results: int) -> list[str] | None:
        """The item's segment, at most ``num_results`` users; None when the model never saw the item."""
        import numpy as np

        row = self.item_position.get(item_id)
        if row is None:
            return None
        scores = self.user_factors @ (self.item_factors[row] - self.mean_item)
        count = min(num_results, len(scores))
        if count == 0:
            return []
        top = np.argpartition(-scores, count - 1)[:count]
        # Best first; equal scores in user id order, so a segment is the same every time.
        top = top[np.lexsort((np.asarray(self.user_ids, dtype=object)[top].astype(str), -scores[top]))]
        return [self.user_ids[i] for i in top]
