"""Training a solution version for real: implicit-feedback ALS on the imported and streamed interactions.

What it imitates (docs/personalize-rules.md sections 2, 4 and 5):

- the minimum data rule: at least 1,000 interactions (after eventType / eventValueThreshold filtering) and at
  least 25 users with 2 or more interactions, else the version ends CREATE FAILED with the service's reason;
- streamed anonymous events join their user's history once an event linked the session to the user, at this (full)
  training; unlinked anonymous events are not used;
- metrics of the service's names on its documented split: 10% of users held out; the oldest 90% of each held-out
  user's history is input and the newest 10% is scored. We score the held-out items the user had not already met
  in the input (repeats would reward recommending what the user has seen) and rank unseen items only.

Event types weigh an interaction (a purchase says more than a click), and ALS (``implicit``) learns user and item
factors from the summed weights. Unless the rank is given, a small fixed search picks it (8, 16 or 32 factors) on a
validation split of the training users, as Personalize's HPO would; the metrics' test users are never used for it.
The popularity-count recipe keeps only the popularity ranking. SIMS keeps no factors either: its related items
are the item co-occurrence of the training matrix (how many users met both items, as a cosine of the two items'
user sets), which serving computes from the matrix the model keeps; its metrics score, for each held-out user, the
items related to her input items. Every recipe reports the same metric names, as the service's do.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MIN_INTERACTIONS = 1000
MIN_USERS = 25
MIN_INTERACTIONS_PER_USER = 2
HOLDOUT_USER_SHARE = 0.1
HOLDOUT_HISTORY_SHARE = 0.1
METRIC_KS = (5, 10, 25)
#: Weight of one interaction by event type; other types weigh 1.
DEFAULT_EVENT_WEIGHTS = {"purchase": 4.0, "cart": 2.5, "add_to_cart": 2.5, "wishlist": 2.0, "click": 1.0}
INTERACTION_COLUMNS = ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE")
POPULARITY_RECIPE = "popularity"
FACTOR_CANDIDATES = (8, 16, 32)
ALS_RECIPE = "als"
SIMS_RECIPE = "sims"
#: Recipes whose model has no factors: their items are ranked by popularity or co-occurrence.
FACTORLESS_RECIPES = (POPULARITY_RECIPE, SIMS_RECIPE)


class InsufficientDataError(ValueError):
    """Too little data to train, with the service's failure reason as message."""


@dataclass(frozen=True)
class TrainingConfig:
    #: ALS rank; None chooses among FACTOR_CANDIDATES on a validation split (see choose_factors).
    factors: int | None = None
    iterations: int = 15
    regularization: float = 1.0
    # Tuned on the demo and synthetic shop data (bench.py); confidence = alpha * log(1 + summed event weights).
    alpha: float = 5.0
    threads: int = 2
    seed: int = 0
    recipe: str = ALS_RECIPE
    event_type: str | None = None
    event_value_threshold: float | None = None
    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))


@dataclass
class TrainedModel:
    recipe: str
    user_ids: np.ndarray  # str
    item_ids: np.ndarray  # str
    user_factors: np.ndarray  # float32 (users x factors); empty for popularity
    item_factors: np.ndarray  # float32 (items x factors)
    item_popularity: np.ndarray  # float32, summed event weights per item
    item_first_seen: np.ndarray  # int64 epoch seconds of the item's oldest interaction
    latest_timestamp: int
    regularization: float
    alpha: float
    metrics: dict[str, float]
    # The training matrix (summed event weights) as CSR, so a user's vector can be re-solved with new events.
    user_items_indptr: np.ndarray
    user_items_indices: np.ndarray
    user_items_weights: np.ndarray

    def save(self, path: Path) -> None:

        tmp = path.with_name(path.name + ".tmp.npz")
        with tmp.open("wb") as handle:
            self._write_npz(handle)
            # On disk before it replaces the old file: after a crash the model is whole or absent, never cut.
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def _write_npz(self, handle) -> None:
        import numpy as np

        np.savez(
            handle,
            recipe=np.array(self.recipe),
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            user_factors=self.user_factors,
            item_factors=self.item_factors,
            item_popularity=self.item_popularity,
            item_first_seen=self.item_first_seen,
            latest_timestamp=np.array(self.latest_timestamp),
            regularization=np.array(self.regularization),
            alpha=np.array(self.alpha),
            metrics=np.array(json.dumps(self.metrics)),
            user_items_indptr=self.user_items_indptr,
            user_items_indices=self.user_items_indices,
            user_items_weights=self.user_items_weights,
        )

    @classmethod
    def load(cls, path: Path) -> TrainedModel:
        import numpy as np

        with np.load(path, allow_pickle=False) as data:
            return cls(
                recipe=str(data["recipe"]),
                user_ids=data["user_ids"],
                item_ids=data["item_ids"],
                user_factors=data["user_factors"],
                item_factors=data["item_factors"],
                item_popularity=data["item_popularity"],
                item_first_seen=data["item_first_seen"],
                latest_timestamp=int(data["latest_timestamp"]),
                regularization=float(data["regularization"]),
                alpha=float(data["alpha"]),
                metrics=json.loads(str(data["metrics"])),
                user_items_indptr=data["user_items_indptr"],
                user_items_indices=data["user_items_indices"],
                user_items_weights=data["user_items_weights"],
            )

    def without_users(self, user_ids: set[str]) -> TrainedModel:
        """The model with these users' rows (factors and training interactions) taken out; itself if it has none.

        Item factors and popularity keep what the users contributed, as any aggregate would: what identifies a user
        is her own row, and without it she is a user the model has never seen.
        """
        import numpy as np

        drop = np.isin(self.user_ids.astype(str), list(user_ids))
        if not drop.any():
            return self
        keep = ~drop
        counts = np.diff(self.user_items_indptr)
        keep_entries = np.repeat(keep, counts)
        return replace(
            self,
            user_ids=self.user_ids[keep],
            user_factors=self.user_factors[keep],
            user_items_indptr=np.concatenate(([0], np.cumsum(counts[keep]))).astype(self.user_items_indptr.dtype),
            user_items_indices=self.user_items_indices[keep_entries],
            user_items_weights=self.user_items_weights[keep_entries],
        )


def prepare_interactions(
    bulk: pd.DataFrame | None, events: pd.DataFrame | None, session_links: dict[str, str]
) -> pd.DataFrame:
    """Bulk plus streamed interactions with typed columns; anonymous events take their linked user or drop out.

    ``events`` has the interaction columns plus SESSION_ID; its USER_ID is '' for anonymous events.
    """
    import pandas as pd

    frames = []
    if bulk is not None and len(bulk):
        frames.append(_typed(bulk))
    if events is not None and len(events):
        streamed = events.copy()
        anonymous = streamed["USER_ID"] == ""
        linked = streamed.loc[anonymous, "SESSION_ID"].map(session_links)
        streamed.loc[anonymous, "USER_ID"] = linked.fillna("")
        streamed = streamed[(streamed["USER_ID"] != "") & (streamed["ITEM_ID"] != "")]
        frames.append(_typed(streamed))
    if not frames:
        return _typed(pd.DataFrame({name: pd.Series(dtype="str") for name in INTERACTION_COLUMNS}))
    return pd.concat(frames, ignore_index=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    columns = {
        "USER_ID": frame["USER_ID"].astype("str"),
        "ITEM_ID": frame["ITEM_ID"].astype("str"),
        "TIMESTAMP": pd.to_numeric(frame["TIMESTAMP"], errors="coerce").fillna(0).astype("int64"),
        "EVENT_TYPE": frame["EVENT_TYPE"].astype("str") if "EVENT_TYPE" in frame else "",
        "EVENT_VALUE": (
            pd.to_numeric(frame["EVENT_VALUE"].replace("", None), errors="coerce")
            if "EVENT_VALUE" in frame
            else float("nan")
        ),
    }
    return pd.DataFrame(columns, index=frame.index).reset_index(drop=True)


def select_training_interactions(frame: pd.DataFrame, config: TrainingConfig) -> pd.DataFrame:
    """The interactions a solution trains on: its eventType only, and at or above eventValueThreshold."""
    if config.event_type:
        frame = frame[frame["EVENT_TYPE"] == config.event_type]
    if config.event_value_threshold is not None:
        frame = frame[frame["EVENT_VALUE"].fillna(float("-inf")) >= config.event_value_threshold]
    return frame.reset_index(drop=True)


def check_minimum_data(frame: pd.DataFrame) -> None:
    if len(frame) < MIN_INTERACTIONS:
        raise InsufficientDataError(
            f"Number of interactions ({len(frame)}) is less than the minimum of {MIN_INTERACTIONS} required "
            "for training"
        )
    per_user = frame.groupby("USER_ID").size()
    if int((per_user >= MIN_INTERACTIONS_PER_USER).sum()) < MIN_USERS:
        raise InsufficientDataError(
            f"Dataset has fewer than {MIN_USERS} users with at least {MIN_INTERACTIONS_PER_USER} interactions each"
        )


@dataclass(frozen=True)
class EvaluationSplit:
    train: pd.DataFrame
    test_users: list[str]
    test_inputs: list[set[str]]  # items in the oldest 90% of each test user's history
    test_relevant: list[set[str]]  # items of the newest 10% not already in the input


def split_for_evaluation(frame: pd.DataFrame, seed: int = 0) -> EvaluationSplit:
    """The service's split: 10% of users held out; the newest 10% of each one's history is scored."""
    import numpy as np

    per_user = frame.groupby("USER_ID").size()
    eligible = np.sort(per_user[per_user >= MIN_INTERACTIONS_PER_USER].index.to_numpy(dtype=str))
    rng = np.random.default_rng(seed)
    n_test = max(1, round(HOLDOUT_USER_SHARE * len(per_user)))
    test_users = set(rng.choice(eligible, size=min(n_test, len(eligible)), replace=False).tolist())
    ordered = frame.sort_values(["USER_ID", "TIMESTAMP"], kind="stable")
    is_test = ordered["USER_ID"].isin(test_users)
    test_rows = ordered[is_test]
    position = test_rows.groupby("USER_ID").cumcount()
    size = test_rows.groupby("USER_ID")["USER_ID"].transform("size")
    holdout_count = np.maximum(1, np.ceil(size * HOLDOUT_HISTORY_SHARE)).astype(int)
    is_holdout = position >= size - holdout_count
    inputs = test_rows[~is_holdout].groupby("USER_ID")["ITEM_ID"].agg(set)
    heldout = test_rows[is_holdout].groupby("USER_ID")["ITEM_ID"].agg(set)
    users, user_inputs, user_relevant = [], [], []
    for user in sorted(test_users):
        seen = inputs.get(user, set())
        relevant = heldout.get(user, set()) - seen
        if relevant:
            users.append(user)
            user_inputs.append(seen)
            user_relevant.append(relevant)
    train = frame[~frame.index.isin(test_rows[is_holdout].index)].reset_index(drop=True)
    return EvaluationSplit(train, users, user_inputs, user_relevant)


def ranking_metrics(recommended: list[list[str]], relevant: list[set[str]], catalog_size: int) -> dict[str, float]:
    """coverage, mean_reciprocal_rank_at_25, normalized_discounted_cumulative_gain_at_K, precision_at_K."""
    metrics = {
        f"{name}_at_{k}": 0.0 for k in METRIC_KS for name in ("normalized_discounted_cumulative_gain", "precision")
    }
    metrics["mean_reciprocal_rank_at_25"] = 0.0
    count = len(recommended)
    if count == 0:
        metrics["coverage"] = 0.0
        return dict(sorted(metrics.items()))
    discounts = [1.0 / math.log2(rank + 2) for rank in range(max(METRIC_KS))]
    for items, truth in zip(recommended, relevant, strict=True):
        hits = [item in truth for item in items[: max(METRIC_KS)]]
        first = next((rank for rank, hit in enumerate(hits) if hit), None)
        if first is not None:
            metrics["mean_reciprocal_rank_at_25"] += 1.0 / (first + 1)
        for k in METRIC_KS:
            dcg = sum(d for d, hit in zip(discounts[:k], hits[:k], strict=False) if hit)
            ideal = sum(discounts[: min(k, len(truth))])
            metrics[f"normalized_discounted_cumulative_gain_at_{k}"] += dcg / ideal
            metrics[f"precision_at_{k}"] += sum(hits[:k]) / k
    metrics = {name: value / count for name, value in metrics.items()}
    distinct = {item for items in recommended for item in items[: max(METRIC_KS)]}
    metrics["coverage"] = len(distinct) / catalog_size if catalog_size else 0.0
    return {name: round(value, 4) for name, value in sorted(metrics.items())}


def _weights(frame: pd.DataFrame, config: TrainingConfig) -> np.ndarray:
    import numpy as np

    weights = frame["EVENT_TYPE"].map(config.event_weights).astype("float64").fillna(1.0)
    return weights.to_numpy(dtype=np.float32)


def _popularity(frame: pd.DataFrame, item_index: pd.Index, config: TrainingConfig) -> np.ndarray:
    import numpy as np
    import pandas as pd

    totals = pd.Series(_weights(frame, config), index=frame.index).groupby(frame["ITEM_ID"]).sum()
    return totals.reindex(item_index, fill_value=0.0).to_numpy(dtype=np.float32)


def weighted_matrix(frame: pd.DataFrame, config: TrainingConfig):
    """(user_ids, item_ids, users x items CSR of summed event weights), ids sorted."""
    import numpy as np
    import scipy.sparse as sp

    user_codes, user_ids = frame["USER_ID"].factorize(sort=True)
    item_codes, item_ids = frame["ITEM_ID"].factorize(sort=True)
    matrix = sp.csr_matrix((_weights(frame, config), (user_codes, item_codes)), shape=(len(user_ids), len(item_ids)))
    matrix.sum_duplicates()
    return np.asarray(user_ids, dtype=str), np.asarray(item_ids, dtype=str), matrix


def fit_factors(matrix, config: TrainingConfig) -> tuple[np.ndarray, np.ndarray]:
    """(user_factors, item_factors) from weighted ALS, with BLAS held to one thread."""
    import numpy as np
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    confidence = matrix.copy()
    # Confidence grows with the summed weight but with diminishing returns, so one heavy user cannot dominate.
    confidence.data = np.log1p(confidence.data).astype(np.float32)
    # implicit parallelises itself; a multi-threaded BLAS underneath would oversubscribe the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        model = AlternatingLeastSquares(
            factors=config.factors,
            regularization=config.regularization,
            alpha=config.alpha,
            iterations=config.iterations,
            num_threads=config.threads,
            random_state=config.seed,
            calculate_training_loss=False,
        )
        model.fit(confidence, show_progress=False)
    return (
        np.ascontiguousarray(model.user_factors, dtype=np.float32),
        np.ascontiguousarray(model.item_factors, dtype=np.float32),
    )


def _top_unseen(scores: np.ndarray, seen: list[np.ndarray], k: int) -> np.ndarray:
    import numpy as np

    scores = scores.copy()
    for row, columns in enumerate(seen):
        scores[row, columns] = -np.inf
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def _popularity_metrics(split: EvaluationSplit, config: TrainingConfig, catalog_size: int) -> dict[str, float]:
    """The baseline: one popularity ranking for everyone, minus what each user has already seen."""
    import numpy as np
    import pandas as pd

    k = max(METRIC_KS)
    item_index = pd.Index(np.sort(split.train["ITEM_ID"].unique()))
    popularity = _popularity(split.train, item_index, config)
    ranking = item_index[np.argsort(-popularity, kind="stable")].tolist()
    popular_lists = [[item for item in ranking[: k + len(seen)] if item not in seen][:k] for seen in split.test_inputs]
    return ranking_metrics(popular_lists, split.test_relevant, catalog_size)


def _model_metrics(split: EvaluationSplit, config: TrainingConfig, catalog_size: int) -> dict[str, float]:
    """Metrics of a model trained on the split's training part, ranking unseen items for its test users."""
    import numpy as np
    import pandas as pd

    k = max(METRIC_KS)
    user_ids, item_ids, matrix = weighted_matrix(split.train, config)
    item_index = pd.Index(item_ids)
    user_factors, item_factors = fit_factors(matrix, config)
    positions = {item: i for i, item in enumerate(item_index)}
    seen = [np.array([positions[i] for i in items if i in positions], dtype=np.int64) for items in split.test_inputs]
    user_rows = pd.Index(user_ids).get_indexer(split.test_users)
    tops = []
    for start in range(0, len(user_rows), 2048):  # bounded memory for large test sets
        rows = user_rows[start : start + 2048]
        scores = user_factors[rows] @ item_factors.T
        tops.append(_top_unseen(scores, seen[start : start + 2048], k))
    top = np.vstack(tops)
    return ranking_metrics([item_index[row].tolist() for row in top], split.test_relevant, catalog_size)


class Cooccurrence:
    """Item co-occurrence on a users x items matrix (any positive entry: the user met the item), for SIMS.

    The score of item j for query weights w is sum_i w_i * |users(i) & users(j)| / sqrt(|users(i)| * |users(j)|):
    a cosine on the items' user sets, so a popular item does not relate to everything.
    """

    def __init__(self, matrix) -> None:
        import numpy as np
        import scipy.sparse as sp

        met = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
        met.data[:] = 1.0
        self.met = met
        self.met_t = met.T.tocsr()
        users_per_item = np.asarray(met.sum(axis=0)).ravel()
        self.norm = np.where(users_per_item > 0, 1.0 / np.sqrt(np.maximum(users_per_item, 1.0)), 0.0)

    def scores(self, item_weights) -> np.ndarray:
        """(queries x items) dense scores for a (queries x items) matrix of query weights."""
        import numpy as np
        import scipy.sparse as sp

        weighted = sp.csr_matrix(item_weights, dtype=np.float64).multiply(self.norm[None, :]).tocsr()
        shared = (weighted @ self.met_t) @ self.met  # queries x items: users in common, weighted
        return shared.toarray() * self.norm[None, :]


def _sims_metrics(split: EvaluationSplit, config: TrainingConfig, catalog_size: int) -> dict[str, float]:
    """Metrics of co-occurrence on the split: each held-out user's input items ask for their related items."""
    import numpy as np
    import scipy.sparse as sp

    k = max(METRIC_KS)
    _, item_ids, matrix = weighted_matrix(split.train, config)
    cooccurrence = Cooccurrence(matrix)
    positions = {item: i for i, item in enumerate(item_ids)}
    seen = [np.array([positions[i] for i in items if i in positions], dtype=np.int64) for items in split.test_inputs]
    tops = []
    for start in range(0, len(seen), 2048):  # bounded memory for large test sets
        chunk = seen[start : start + 2048]
        rows = np.repeat(np.arange(len(chunk)), [len(columns) for columns in chunk])
        columns = np.concatenate(chunk) if chunk else np.array([], dtype=np.int64)
        queries = sp.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=(len(chunk), len(item_ids)))
        tops.append(_top_unseen(cooccurrence.scores(queries), chunk, k))
    top = np.vstack(tops)
    return ranking_metrics([item_ids[row].tolist() for row in top], split.test_relevant, catalog_size)


def choose_factors(train_frame: pd.DataFrame, config: TrainingConfig) -> int:
    """The ALS rank with the best NDCG@25 on a validation split of the training users (a small, fixed HPO).

    The test users of the metrics split are not involved, so the reported metrics stay honest.
    """
    validation = split_for_evaluation(train_frame, seed=config.seed + 1)
    if not validation.test_users:
        return FACTOR_CANDIDATES[0]
    catalog = train_frame["ITEM_ID"].nunique()
    key = "normalized_discounted_cumulative_gain_at_25"
    scores = {
        factors: _model_metrics(validation, replace(config, factors=factors), catalog)[key]
        for factors in FACTOR_CANDIDATES
    }
    return max(FACTOR_CANDIDATES, key=lambda factors: (scores[factors], -factors))


def evaluate_split(
    split: EvaluationSplit, config: TrainingConfig, catalog_size: int
) -> tuple[dict[str, float], dict[str, float]]:
    """(model metrics, popularity-baseline metrics) on the held-out users; config.factors must be set."""
    if not split.test_users:
        empty = ranking_metrics([], [], catalog_size)
        return empty, empty
    baseline = _popularity_metrics(split, config, catalog_size)
    if config.recipe == POPULARITY_RECIPE:
        return baseline, baseline
    if config.recipe == SIMS_RECIPE:
        return _sims_metrics(split, config, catalog_size), baseline
    return _model_metrics(split, config, catalog_size), baseline


def train(
    interactions: pd.DataFrame, config: TrainingConfig, catalog_items: set[str] | None = None
) -> tuple[TrainedModel, dict[str, float]]:
    """(the trained model with its metrics, the popularity baseline's metrics); InsufficientDataError if too little."""
    import numpy as np
    import pandas as pd

    frame = select_training_interactions(interactions, config)
    check_minimum_data(frame)
    catalog = set(frame["ITEM_ID"].unique()) | (catalog_items or set())
    split = split_for_evaluation(frame, seed=config.seed)
    if config.factors is None and config.recipe not in FACTORLESS_RECIPES:
        config = replace(config, factors=choose_factors(split.train, config))
    metrics, baseline = evaluate_split(split, config, len(catalog))
    user_ids, item_ids, matrix = weighted_matrix(frame, config)
    item_index = pd.Index(item_ids)
    if config.recipe in FACTORLESS_RECIPES:
        user_factors = np.zeros((len(user_ids), 0), dtype=np.float32)
        item_factors = np.zeros((len(item_ids), 0), dtype=np.float32)
    else:
        user_factors, item_factors = fit_factors(matrix, config)
    first_seen = frame.groupby("ITEM_ID")["TIMESTAMP"].min().reindex(item_index).to_numpy(dtype=np.int64)
    model = TrainedModel(
        recipe=config.recipe,
        user_ids=user_ids,
        item_ids=item_ids,
        user_factors=user_factors,
        item_factors=item_factors,
        item_popularity=_popularity(frame, item_index, config),
        item_first_seen=first_seen,
        latest_timestamp=int(frame["TIMESTAMP"].max()),
        regularization=config.regularization,
        alpha=config.alpha,
        metrics=metrics,
        user_items_indptr=matrix.indptr.astype(np.int64),
        user_items_indices=matrix.indices.astype(np.int32),
        user_items_weights=matrix.data.astype(np.float32),
    )
    return model, baseline
