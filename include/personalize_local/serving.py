"""Serving: GetRecommendations, PutEvents, and the in-memory indexes they answer from.

GetRecommendations (promotions included, see promotions.py) and GetPersonalizedRanking answer by the campaign's
recipe type: USER_PERSONALIZATION campaigns take a userId, RELATED_ITEMS (SIMS) ones an itemId (a userId too when
a filter reads the member's interactions), and PERSONALIZED_RANKING ones answer GetPersonalizedRanking only.
``metadataColumns`` adds the Items columns asked for when the campaign enables metadata; ``context``, which the
local models are not trained on, is refused.

A campaign's requests are scored by a :class:`~personalize_local.recommender.ServingIndex` built from its solution
version's model, the group's Items and Users data and its live interaction history; indexes are cached per (version,
group data version), so an import or a data deletion makes the next request use the new data (a deletion also takes
the users out of the models first, so they are served as users never seen). Histories take streamed events at once,
which is how PutEvents changes recommendations before any retraining; an event's item, value and metadata count
alike whether sent as ``itemId``/``eventValue`` or in its ``properties`` (see :func:`_event_row`). The control plane
tells serving when what a campaign serves changes (:meth:`Serving.campaign_changed`,
:meth:`Serving.group_data_changed`), and serving loads the model then, so the first request does not wait for it.

Requests never wait on that work (issue 18): an index or history is built holding no lock a request takes, the
campaign answering from its previous index meanwhile, and replaces it whole. The import, deletion or UpdateCampaign
that asked for it ends only after that, so once it is done requests use the new data or version.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from personalize_local import errors
from personalize_local.importer import MAX_CATEGORICAL_LENGTH, Field, parse_schema
from personalize_local.kinds import (
    ACTIVE,
    CAMPAIGN,
    CREATE_FAILED,
    DATASET_GROUP,
    EVENT_TRACKER,
    FILTER,
    SCHEMA,
    SOLUTION,
    SOLUTION_VERSION,
)
from personalize_local.promotions import checked_promotion, place_promoted, promoted_count
from personalize_local.recipes import (
    PERSONALIZED_RANKING,
    RECIPES,
    RELATED_ITEMS,
    USER_PERSONALIZATION,
    training_config,
)
from personalize_local.records import camel_case, field_key
from personalize_local.resources import ResourceAccess, required

if TYPE_CHECKING:
    from personalize_local.filters import Filter
    from personalize_local.recommender import ExplorationConfig, LiveHistory, ServingIndex

log = logging.getLogger(__name__)

DEFAULT_NUM_RESULTS = 25
MAX_RANKING_INPUT = 500  # GetPersonalizedRanking inputList
MAX_RANKING_INPUT_WITH_METADATA = 50
MAX_METADATA_COLUMNS = 10
MAX_NUM_RESULTS = 500
MAX_EVENTS_PER_CALL = 10
MAX_PROPERTIES_LENGTH = 1024
MAX_IMPRESSIONS = 25
#: sentAt is epoch seconds. The service documents no range; an event before 2000 or more than a day ahead is
#: almost surely milliseconds or garbage, and an unbounded one (1e300) would break every later read of the events.
EARLIEST_SENT_AT = 946_684_800  # 2000-01-01T00:00:00Z
SENT_AT_AHEAD_SECONDS = 86_400
FORBIDDEN_PROPERTY_KEYS = {"userid", "sessionid", "eventtype", "timestamp", "recommendationid", "impression"}
#: GetRecommendations answers remembered for PutEvents events that name their recommendationId.
MAX_REMEMBERED_RECOMMENDATIONS = 10_000
#: Serving indexes kept in memory; older ones are dropped (each holds a model and the group's histories).
MAX_CACHED_INDEXES = 8


def _recipe_type(version: dict[str, Any]) -> str:
    recipe = RECIPES.get(version.get("recipeArn", ""))
    return recipe.recipe_type if recipe else USER_PERSONALIZATION


def _metadata_columns(params: dict[str, Any], campaign: dict[str, Any], index: ServingIndex) -> list[str]:
    """The Items columns ``metadataColumns`` asks for ([] without it); the campaign must have metadata enabled
    (campaignConfig.enableMetadataWithRecommendations) and each column must be one of the Items dataset's."""
    asked = params.get("metadataColumns")
    if not asked:
        return []
    unknown_keys = sorted(key for key in asked if key != "ITEMS")
    if unknown_keys:
        raise errors.InvalidInputError(f"metadataColumns takes the key ITEMS only, not {unknown_keys}")
    if not (campaign.get("campaignConfig") or {}).get("enableMetadataWithRecommendations"):
        raise errors.InvalidInputError(
            f"Campaign {campaign['campaignArn']} does not have metadata in recommendations enabled "
            "(campaignConfig.enableMetadataWithRecommendations)"
        )
    columns = list(asked["ITEMS"])
    if len(columns) > MAX_METADATA_COLUMNS:
        raise errors.InvalidInputError(f"metadataColumns.ITEMS names at most {MAX_METADATA_COLUMNS} columns")
    missing = [column for column in columns if column not in index.metadata or column == "ITEM_ID"]
    if missing:
        raise errors.InvalidInputError(f"metadataColumns.ITEMS names columns the Items dataset lacks: {missing}")
    return columns


def _listed(item_id: str, score: float, columns: list[str], index: ServingIndex) -> dict[str, Any]:
    """One entry of an itemList or personalizedRanking, with the asked metadata when there is any."""
    entry: dict[str, Any] = {"itemId": item_id, "score": score}
    if columns:
        entry["metadata"] = index.item_metadata(item_id, columns)
    return entry


class _PausedCollections:
    """Automatic cyclic collections off while any thread builds an index; after the last build, what was built is
    frozen and they are on again.

    A build allocates an object or more per interaction; each automatic collection meanwhile scans all of them
    holding the GIL (~0.1 s per 300k interactions), and every request waits for it (issue 18). The index holds
    these long-lived objects (histories) for good: freezing them keeps the cyclic GC from ever scanning them again,
    and, done before collections are back on, without scanning them once. Nothing is collected first for the same
    reason: a build leaves no cyclic garbage (its acyclic garbage is freed as it goes), and what little other
    threads left meanwhile is frozen with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._builds = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._builds == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._builds += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._builds -= 1
            if self._builds == 0:
                gc.freeze()
                if self._was_enabled:
                    gc.enable()


_COLLECTIONS_PAUSED = _PausedCollections()


class Serving(ResourceAccess):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Requests never wait on a build (issue 18: an import into one group froze serving of every campaign, and
        # the event loop with it). Built indexes sit in plain dicts a request reads without a lock; a build takes
        # a lock of its own key only, and holds the shared locks just to put what it built in place.
        self._indexes: dict[tuple[str, int], ServingIndex] = {}
        self._latest: dict[str, ServingIndex] = {}  # version ARN -> its newest index, served while a newer builds
        self._index_lock = threading.Lock()  # guards the dicts' updates; never held while building
        self._index_builds: dict[tuple[str, int], threading.Lock] = {}
        self._histories: dict[str, tuple[int, LiveHistory]] = {}
        self._history_lock = threading.RLock()  # PutEvents' append and the swap of a built history; held briefly
        self._history_builds: dict[str, threading.Lock] = {}
        #: group ARN -> the events PutEvents streamed while its history was being built, added to it once built.
        self._streamed_during_build: dict[str, list[dict[str, str]]] = {}
        self._schema_fields: dict[str, dict[str, Field]] = {}
        #: recommendationId -> the items it listed (newest last), for PutEvents' implied impressions.
        self._recommended: dict[str, list[str]] = {}
        self._recommended_lock = threading.Lock()  # its own: a request never waits on PutEvents' history lock

    # ---- what the control plane tells serving -----------------------------------------------------------------

    def campaign_changed(self, campaign_arn: str) -> None:
        """The campaign became ACTIVE or serves another version or config now: load its model."""
        self.warm([campaign_arn])

    def group_data_changed(self, group_arn: str) -> None:
        """An import or a deletion changed the group's data: its campaigns get new indexes now, not on a request."""
        versions = {
            v["solutionVersionArn"] for v in self.store.all(SOLUTION_VERSION) if v["datasetGroupArn"] == group_arn
        }
        self.warm([c["campaignArn"] for c in self.store.all(CAMPAIGN) if c["solutionVersionArn"] in versions])

    def deployed_campaigns(self) -> list[str]:
        return [c["campaignArn"] for c in self.store.all(CAMPAIGN) if c.get("status") == ACTIVE]

    def warm(self, campaign_arns: list[str]) -> None:
        """Load the serving index of these campaigns ahead of their first request."""
        for arn in campaign_arns:
            campaign = self.store.get(CAMPAIGN, arn)
            if campaign is None or campaign.get("status") != ACTIVE:
                continue
            version = self.store.get(SOLUTION_VERSION, campaign["solutionVersionArn"])
            if version is None or version.get("status") != ACTIVE:
                continue  # a version failed at start for a damaged model file (state.py) has nothing to load
            group = self.store.get(DATASET_GROUP, version["datasetGroupArn"])
            if group is not None:
                try:
                    self._serving_index(version["solutionVersionArn"], group)
                except Exception:  # the request path will report it; warming is only an optimisation
                    log.exception("could not load the model of campaign %s", arn)

    def is_warm(self, campaign_arn: Any) -> bool:
        """Whether GetRecommendations for this campaign would be answered from memory (no model to load)."""
        campaign = self.store.get(CAMPAIGN, campaign_arn) if isinstance(campaign_arn, str) else None
        version = self.store.get(SOLUTION_VERSION, campaign["solutionVersionArn"]) if campaign else None
        group = self.store.get(DATASET_GROUP, version["datasetGroupArn"]) if version else None
        if group is None:
            return True  # an error answer, also immediate
        return self._ready_index(version["solutionVersionArn"], group.get("_dataVersion", 0)) is not None

    def prepare(self, version_arn: str) -> None:
        """Load a version's index before a campaign switches to it (UpdateCampaign), so its requests never wait."""
        version = self.store.get(SOLUTION_VERSION, version_arn)
        group = self.store.get(DATASET_GROUP, version["datasetGroupArn"]) if version else None
        if group is None or version.get("status") != ACTIVE:
            return
        try:
            self._serving_index(version_arn, group)
        except Exception:  # the request path will report it; loading ahead is only an optimisation
            log.exception("could not load the model of solution version %s", version_arn)

    # ---- indexes ----------------------------------------------------------------------------------------------

    def _history(self, group: dict[str, Any]) -> LiveHistory:
        from personalize_local.recommender import build_history

        group_arn, version = group["datasetGroupArn"], group.get("_dataVersion", 0)
        cached = self._histories.get(group_arn)
        if cached is not None and cached[0] == version:
            return cached[1]
        with self._history_lock:
            build_lock = self._history_builds.setdefault(group_arn, threading.Lock())
        with build_lock:  # one build per group; PutEvents and other groups go on meanwhile
            cached = self._histories.get(group_arn)
            if cached is not None and cached[0] == version:
                return cached[1]
            with self._history_lock:
                streamed = self._streamed_during_build[group_arn] = []
            try:
                bulk, events = self.interactions(group_arn)  # the slow part: reading and building, no lock held
                history = build_history(bulk, events)
            finally:
                with self._history_lock:
                    self._streamed_during_build.pop(group_arn, None)
            with self._history_lock:
                # Events PutEvents appended after the read above are not in it: add them, as it adds to a built
                # history. Those the read saw (or whose eventId it had seen, which are not used again) are in it.
                ids = {row["EVENT_ID"] for row in streamed}
                seen = set(events.loc[events["EVENT_ID"].isin(ids), "EVENT_ID"]) if ids and events is not None else ()
                for row in streamed:
                    if row["EVENT_ID"] not in seen:
                        _add_event(history, row)
                self._histories[group_arn] = (version, history)
            return history

    def _ready_index(self, version_arn: str, data_version: int) -> ServingIndex | None:
        """The index to answer with at once: the data version's, or while that one is being built, the version's
        last one (the campaign serves its previous data until the new index is whole); None to build or wait."""
        index = self._indexes.get((version_arn, data_version))
        if index is not None:
            return index
        building = self._index_builds.get((version_arn, data_version))
        return self._latest.get(version_arn) if building is not None and building.locked() else None

    def _serving_index(self, version_arn: str, group: dict[str, Any]) -> ServingIndex:
        key = (version_arn, group.get("_dataVersion", 0))
        index = self._ready_index(*key)
        if index is not None:
            return index
        with self._index_lock:
            build_lock = self._index_builds.setdefault(key, threading.Lock())
        with build_lock:  # a second request for the same key waits for the first build instead of repeating it
            index = self._indexes.get(key)
            if index is not None:
                return index
            try:
                with _COLLECTIONS_PAUSED:
                    index = self._build_index(version_arn, group)
            except BaseException:
                with self._index_lock:
                    self._index_builds.pop(key, None)
                raise
            with self._index_lock:
                full = len(self._indexes) > MAX_CACHED_INDEXES
                for old in [k for k in self._indexes if k[0] == version_arn or full]:
                    self._indexes.pop(old, None)
                    if old[0] != version_arn:
                        self._latest.pop(old[0], None)
                self._indexes[key] = index
                self._latest[version_arn] = index  # the swap: whole before any request sees it
                self._index_builds.pop(key, None)
        return index

    def _build_index(self, version_arn: str, group: dict[str, Any]) -> ServingIndex:
        """A new index, built whole before anything serves from it; the slow part (files, model), lock-free."""
        from personalize_local.recommender import ServingIndex
        from personalize_local.trainer import TrainedModel

        model = TrainedModel.load(self.store.model_path(version_arn))
        items_dataset = self.dataset_of(group["datasetGroupArn"], "Items")
        users_dataset = self.dataset_of(group["datasetGroupArn"], "Users")
        return ServingIndex(
            model,
            self.store.read_current(items_dataset["datasetArn"], "ITEM_ID") if items_dataset else None,
            self.store.read_current(users_dataset["datasetArn"], "USER_ID") if users_dataset else None,
            self._history(group),
            alpha=model.alpha,
        )

    # ---- GetRecommendations -----------------------------------------------------------------------------------

    def parsed_filter(self, filter_arn: str | None, group: dict[str, Any], *, against: str) -> Filter | None:
        """The filter's parsed expression; it must be ACTIVE and of the group (``against`` names what it serves)."""
        from personalize_local.filters import FilterSyntaxError, parse_filter

        if not filter_arn:
            return None
        record = self.store.get(FILTER, filter_arn)
        if record is None:
            raise errors.ResourceNotFoundError(f"Filter {filter_arn} does not exist.")
        if record["status"] != ACTIVE:
            raise errors.InvalidInputError(f"Filter {filter_arn} is {record['status']}, not ACTIVE.")
        if record["datasetGroupArn"] != group["datasetGroupArn"]:
            raise errors.InvalidInputError(f"Filter {filter_arn} belongs to another dataset group than {against}")
        try:
            return parse_filter(record["filterExpression"])
        except FilterSyntaxError as exc:  # pragma: no cover - validated at CreateFilter
            raise errors.InvalidInputError(str(exc)) from exc

    def recommender(
        self,
        version: dict[str, Any],
        group: dict[str, Any],
        *,
        filter_arn: str | None,
        exploration: ExplorationConfig,
        against: str,
    ) -> Callable[[str, int, dict[str, str] | None], list[tuple[str, float]]]:
        """``recommend(user_id, num_results, filter_values) -> [(itemId, score)]`` on a solution version's model.

        What GetRecommendations answers with, and what a batch inference job runs for each line of its input: the
        version's serving index, the filter (which must be ACTIVE and in the version's dataset group, ``against``
        naming what it is checked against), the exploration and the solution's event weights. ``recommend`` raises
        FilterValueError for filterValues the filter cannot take.
        """
        parsed_filter = self.parsed_filter(filter_arn, group, against=against)
        index = self._serving_index(version["solutionVersionArn"], group)
        solution = self.store.get(SOLUTION, version["solutionArn"]) or version  # a version carries its recipe
        event_weights = training_config(solution, self.settings.train_threads).event_weights

        def recommend(user_id: str, num_results: int, filter_values: dict[str, str] | None) -> list[tuple[str, float]]:
            return index.recommend(
                user_id,
                num_results,
                parsed_filter=parsed_filter,
                filter_values=filter_values,
                exploration=exploration,
                event_weights=event_weights,
            )

        return recommend

    def _campaign_version(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(campaign, its solution version, the version's dataset group) of a runtime request; it must be ACTIVE."""
        campaign_arn = required(params, "campaignArn")
        campaign = self.store.get(CAMPAIGN, campaign_arn)
        if campaign is None:
            raise errors.ResourceNotFoundError(f"Campaign {campaign_arn} does not exist.")
        if campaign["status"] != ACTIVE:
            raise errors.InvalidInputError(f"Campaign {campaign_arn} is {campaign['status']}, not ACTIVE.")
        version = self.store.get(SOLUTION_VERSION, campaign["solutionVersionArn"])
        if version is None:
            raise errors.ResourceNotFoundError(f"Solution version {campaign['solutionVersionArn']} does not exist.")
        if version.get("status") == CREATE_FAILED:
            # Its model file was found damaged at start (state.py): say so rather than fail on loading it.
            raise errors.InvalidInputError(
                f"Solution version {version['solutionVersionArn']} of campaign {campaign_arn} is CREATE FAILED: "
                f"{version.get('failureReason', '')}"
            )
        return campaign, version, self.get(DATASET_GROUP, version["datasetGroupArn"])

    def get_recommendations(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.filters import FilterSyntaxError, FilterValueError
        from personalize_local.recommender import ExplorationConfig

        # recommenderArn and context are refused before any handler, by the support table (support.py).
        campaign, version, group = self._campaign_version(params)
        kind = _recipe_type(version)
        if kind == PERSONALIZED_RANKING:
            raise errors.InvalidInputError(
                f"Campaign {campaign['campaignArn']} serves a PERSONALIZED_RANKING recipe: use GetPersonalizedRanking"
            )
        user_id = params.get("userId") or ""
        item_id = params.get("itemId") or ""
        if kind == RELATED_ITEMS:
            if not item_id:
                raise errors.InvalidInputError("itemId is required for a RELATED_ITEMS (SIMS) campaign")
        else:
            if not user_id:
                raise errors.InvalidInputError("userId is required for a User-Personalization campaign")
            if item_id:
                raise errors.InvalidInputError(
                    "itemId is not used by a USER_PERSONALIZATION campaign; it is for RELATED_ITEMS (SIMS) campaigns"
                )
        if len(user_id) > 256 or len(item_id) > 256:
            raise errors.InvalidInputError("userId and itemId are at most 256 characters")
        num_results = params.get("numResults", DEFAULT_NUM_RESULTS)
        if not isinstance(num_results, int) or not 1 <= num_results <= MAX_NUM_RESULTS:
            raise errors.InvalidInputError(f"numResults must be between 1 and {MAX_NUM_RESULTS}")
        filter_arn = params.get("filterArn")
        if not filter_arn and params.get("filterValues"):
            raise errors.InvalidInputError("filterValues need a filterArn")
        promotion = checked_promotion(params.get("promotions"))
        promotion_filter = (
            self.parsed_filter(promotion["filterArn"], group, against="the campaign (promotions[0].filterArn)")
            if promotion
            else None
        )
        parsed = self.parsed_filter(filter_arn, group, against="the campaign")
        index = self._serving_index(version["solutionVersionArn"], group)
        if kind == RELATED_ITEMS:

            def recommend(count: int, chosen_filter: Filter | None, values: dict[str, str] | None):
                return index.related(item_id, user_id, count, parsed_filter=chosen_filter, filter_values=values)

        else:
            exploration = ExplorationConfig.from_campaign_config(campaign.get("campaignConfig"))
            solution = self.store.get(SOLUTION, version["solutionArn"]) or version
            event_weights = training_config(solution, self.settings.train_threads).event_weights

            def recommend(count: int, chosen_filter: Filter | None, values: dict[str, str] | None):
                return index.recommend(
                    user_id,
                    count,
                    parsed_filter=chosen_filter,
                    filter_values=values,
                    exploration=exploration,
                    event_weights=event_weights,
                )

        columns = _metadata_columns(params, campaign, index)
        try:
            promoted: list[tuple[str, float]] = []
            if promotion:
                wanted = promoted_count(num_results, promotion["percentPromotedItems"])
                promoted = recommend(wanted, promotion_filter, promotion.get("filterValues"))
            # With promoted items, the others come from a longer list: leaving those out still fills numResults.
            items = recommend(num_results + len(promoted), parsed, params.get("filterValues"))
            if promoted:
                taken = {item for item, _ in promoted}
                others = [entry for entry in items if entry[0] not in taken][: num_results - len(promoted)]
                items = place_promoted(promoted, others, random.Random())
        except (FilterValueError, FilterSyntaxError) as exc:
            raise errors.InvalidInputError(str(exc)) from exc
        promoted_ids = {item for item, _ in promoted}
        listed = [_listed(item, score, columns, index) for item, score in items]
        for entry in listed:
            if entry["itemId"] in promoted_ids:
                entry["promotionName"] = promotion["name"]
        return {
            "itemList": listed,
            "recommendationId": f"RID-{uuid.uuid4()}",
        }

    # ---- GetPersonalizedRanking -------------------------------------------------------------------------------

    def get_personalized_ranking(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.filters import FilterSyntaxError, FilterValueError

        campaign, version, group = self._campaign_version(params)
        if _recipe_type(version) != PERSONALIZED_RANKING:
            raise errors.InvalidInputError(
                f"Campaign {campaign['campaignArn']} does not serve a PERSONALIZED_RANKING recipe "
                f"({version['recipeArn']}): use GetRecommendations"
            )
        user_id = params.get("userId")
        if not user_id:
            raise errors.InvalidInputError("userId is required for GetPersonalizedRanking")
        input_list = params.get("inputList")
        if not input_list:
            raise errors.InvalidInputError("inputList is required: the itemIds to rank (1 to 500)")
        limit = MAX_RANKING_INPUT_WITH_METADATA if params.get("metadataColumns") else MAX_RANKING_INPUT
        if len(input_list) > limit:
            raise errors.InvalidInputError(
                f"inputList holds {len(input_list)} items; at most {limit}"
                + (" with metadataColumns" if limit == MAX_RANKING_INPUT_WITH_METADATA else "")
            )
        seen: set[str] = set()
        for position, item in enumerate(input_list):
            if item in seen:
                raise errors.InvalidInputError(f"inputList[{position}] repeats itemId {errors.shorten(item, 60)!r}")
            seen.add(item)
        filter_arn = params.get("filterArn")
        if not filter_arn and params.get("filterValues"):
            raise errors.InvalidInputError("filterValues need a filterArn")
        parsed = self.parsed_filter(filter_arn, group, against="the campaign")
        index = self._serving_index(version["solutionVersionArn"], group)
        solution = self.store.get(SOLUTION, version["solutionArn"]) or version
        event_weights = training_config(solution, self.settings.train_threads).event_weights
        columns = _metadata_columns(params, campaign, index)
        try:
            ranked = index.rank_input(
                user_id,
                input_list,
                parsed_filter=parsed,
                filter_values=params.get("filterValues"),
                event_weights=event_weights,
            )
        except (FilterValueError, FilterSyntaxError) as exc:
            raise errors.InvalidInputError(str(exc)) from exc
        return {
            "personalizedRanking": [_listed(item, score, columns, index) for item, score in ranked],
            "recommendationId": f"RID-{uuid.uuid4()}",
        }

    # ---- PutEvents --------------------------------------------------------------------------------------------

    def put_events(self, params: dict[str, Any]) -> dict[str, Any]:
        tracking_id = required(params, "trackingId")
        tracker = next((t for t in self.store.all(EVENT_TRACKER) if t["trackingId"] == tracking_id), None)
        if tracker is None:
            raise errors.ResourceNotFoundError(f"No event tracker has trackingId {tracking_id}.")
        if tracker["status"] != ACTIVE:
            raise errors.ResourceInUseError(
                f"Event tracker {tracker['eventTrackerArn']} is {tracker['status']}, not ACTIVE."
            )
        session_id = required(params, "sessionId")
        user_id = params.get("userId") or ""
        if not isinstance(session_id, str) or not isinstance(user_id, str):
            raise errors.InvalidInputError("sessionId and userId must be strings")
        if len(session_id) > 256 or len(user_id) > 256:
            raise errors.InvalidInputError("sessionId and userId are at most 256 characters")
        events = params.get("eventList") or []
        if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
            raise errors.InvalidInputError("eventList must be a list of event objects")
        if not 1 <= len(events) <= MAX_EVENTS_PER_CALL:
            raise errors.InvalidInputError(f"eventList must hold 1 to {MAX_EVENTS_PER_CALL} events")
        group = self.get(DATASET_GROUP, tracker["datasetGroupArn"])
        dataset = self.dataset_of(group["datasetGroupArn"], "Interactions")
        if dataset is None:
            raise errors.InvalidInputError(f"Dataset group {group['datasetGroupArn']} has no Interactions dataset")
        fields = self._interactions_fields(dataset.get("schemaArn"))
        # Every event is checked before any is stored: a bad one refuses the whole call.
        rows = [_event_row(position, event, user_id, session_id, fields) for position, event in enumerate(events)]
        for row in rows:
            self._implied_impression(row)
        with self._history_lock:
            self.store.append_events(dataset["datasetArn"], rows)
            cached = self._histories.get(group["datasetGroupArn"])
            if cached is not None:
                for row in rows:
                    _add_event(cached[1], row)
            streamed = self._streamed_during_build.get(group["datasetGroupArn"])
            if streamed is not None:
                streamed.extend(rows)  # a history being built may have read the file before these
        return {}

    def remember_recommendations(self, response: dict[str, Any]) -> None:
        """Keep a GetRecommendations (or GetPersonalizedRanking) answer's items under its recommendationId, for the
        events that name it."""
        listed = response.get("itemList", response.get("personalizedRanking", []))
        with self._recommended_lock:
            self._recommended[response["recommendationId"]] = [entry["itemId"] for entry in listed]
            while len(self._recommended) > MAX_REMEMBERED_RECOMMENDATIONS:
                self._recommended.pop(next(iter(self._recommended)))

    def _implied_impression(self, row: dict[str, str]) -> None:
        """An event naming a recommendationId but no impression was shown that recommendation's items, as the
        service records it; a recommendationId this endpoint did not give (or no longer holds) implies nothing."""
        metadata = json.loads(row["PROPERTIES"]) if row["PROPERTIES"] else {}
        with self._recommended_lock:
            recommended = self._recommended.get(metadata.get("RECOMMENDATION_ID", ""))
        if recommended and "IMPRESSION" not in metadata:
            metadata["IMPRESSION"] = "|".join(item for item in recommended if "|" not in item)
            row["PROPERTIES"] = json.dumps(metadata, sort_keys=True)

    def _interactions_fields(self, schema_arn: str | None) -> dict[str, Field]:
        """The Interactions schema's fields by :func:`field_key` (schemas never change, so kept once read); none
        for a dataset recorded without its schema, which then takes the item and value in properties only."""
        if schema_arn is None:
            return {}
        fields = self._schema_fields.get(schema_arn)
        if fields is None:
            schema = self.get(SCHEMA, schema_arn)
            fields = self._schema_fields[schema_arn] = {field_key(f.name): f for f in parse_schema(schema["schema"])}
        return fields


def _add_event(history: LiveHistory, row: dict[str, str]) -> None:
    """A streamed event into a built history, under its user and its session, with its impression."""
    from personalize_local.recommender import impression_of

    if row["ITEM_ID"]:
        history.add((row["USER_ID"], row["SESSION_ID"]), row["ITEM_ID"], row["EVENT_TYPE"], int(row["TIMESTAMP"]))
    shown = impression_of(row["PROPERTIES"])
    if shown:
        history.add_impression((row["USER_ID"], row["SESSION_ID"]), shown)


def _event_row(
    position: int, event: dict[str, Any], user_id: str, session_id: str, fields: dict[str, Field]
) -> dict[str, str]:
    """One PutEvents event as a row of the dataset's events file; InvalidInputException naming the event.

    ``fields``: the Interactions schema's fields by :func:`field_key`. The event's ``properties`` carry its item
    (``itemId``), value (``eventValue``) and the schema's other fields under camel-case names (``numberOfRatings``
    for NUMBER_OF_RATINGS), all read as the service reads them: an item sent there counts exactly like one sent
    as ``itemId``.
    """
    where = f"eventList[{position}]"
    event_type = event.get("eventType")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 256:
        raise errors.InvalidInputError(f"{where}.eventType is required (a string of 1-256 characters)")
    _check_sent_at(event.get("sentAt"), where)
    sent_at = event["sentAt"]
    item_id = event.get("itemId") or ""
    if not isinstance(item_id, str) or len(item_id) > 256:
        raise errors.InvalidInputError(f"{where}.itemId must be a string of at most 256 characters")
    event_id = event.get("eventId") or ""
    if not isinstance(event_id, str) or len(event_id) > 256:
        raise errors.InvalidInputError(f"{where}.eventId must be a string of at most 256 characters")
    if event.get("metricAttribution") is not None:
        raise errors.InvalidInputError(
            f"{where}.metricAttribution: metric attributions are not supported by the local endpoint"
        )
    value = event.get("eventValue")
    if value is not None and not _finite_number(value):
        raise errors.InvalidInputError(f"{where}.eventValue must be a finite number")
    metadata = _event_properties(event.get("properties"), where, fields)
    listed_item = metadata.pop("ITEM_ID", None)
    if listed_item is not None:
        if item_id and listed_item != item_id:
            raise errors.InvalidInputError(
                f"{where}: itemId and properties.itemId name different items; give the item once"
            )
        if len(listed_item) > 256:
            raise errors.InvalidInputError(f"{where}.properties.itemId is longer than 256 characters")
        item_id = listed_item
    listed_value = metadata.pop("EVENT_VALUE", None)
    if listed_value is not None:
        number = _number(listed_value)
        if number is None:
            raise errors.InvalidInputError(f"{where}.properties.eventValue must be a finite number")
        if value is not None and float(value) != number:
            raise errors.InvalidInputError(f"{where}: eventValue and properties.eventValue differ; give the value once")
        value = number
    impression = event.get("impression") or []
    if not isinstance(impression, list) or not all(isinstance(item, str) and item for item in impression):
        raise errors.InvalidInputError(f"{where}.impression must be a list of item IDs")
    if len(impression) > MAX_IMPRESSIONS:
        raise errors.InvalidInputError(f"{where}.impression holds more than {MAX_IMPRESSIONS} item IDs")
    if any("|" in item for item in impression):
        raise errors.InvalidInputError(f"{where}.impression: an item ID in an impression cannot hold '|'")
    if impression:
        metadata["IMPRESSION"] = "|".join(impression)
    recommendation_id = event.get("recommendationId")
    if recommendation_id:
        metadata["RECOMMENDATION_ID"] = recommendation_id
    return {
        "USER_ID": user_id,
        "ITEM_ID": item_id,
        "TIMESTAMP": str(int(sent_at)),
        "EVENT_TYPE": event_type,
        "EVENT_VALUE": "" if value is None else repr(float(value)),
        "SESSION_ID": session_id,
        "EVENT_ID": event_id or uuid.uuid4().hex,
        "PROPERTIES": json.dumps(metadata, sort_keys=True) if metadata else "",
    }


def _event_properties(properties: object, where: str, fields: dict[str, Field]) -> dict[str, str]:
    """An event's ``properties`` as {schema field name: value as text}; InvalidInputException naming the key."""
    if properties is None or properties == "":
        return {}
    if not isinstance(properties, str):
        raise errors.InvalidInputError(f"{where}.properties must be a JSON object string")
    if len(properties) > MAX_PROPERTIES_LENGTH:
        raise errors.InvalidInputError(f"{where}.properties is longer than {MAX_PROPERTIES_LENGTH} characters")
    try:
        parsed = json.loads(properties)
    except (ValueError, RecursionError):  # at most 1,024 characters, so at most 512 levels: still guarded
        raise errors.InvalidInputError(f"{where}.properties must be a JSON object string") from None
    if not isinstance(parsed, dict):
        raise errors.InvalidInputError(f"{where}.properties must be a JSON object string")
    forbidden = sorted(k for k in parsed if k.lower() in FORBIDDEN_PROPERTY_KEYS)
    if forbidden:
        raise errors.InvalidInputError(f"{where}.properties may not use the reserved keys {forbidden}")
    known = {**fields, "itemid": Field("ITEM_ID", "string", False), "eventvalue": Field("EVENT_VALUE", "float", True)}
    metadata: dict[str, str] = {}
    for key, raw in parsed.items():
        field = known.get(field_key(key))
        shown = errors.shorten(key, 64)
        if field is None or field.name in ("USER_ID", "TIMESTAMP", "EVENT_TYPE"):
            names = sorted(f.name for f in fields.values() if f.name not in ("USER_ID", "TIMESTAMP", "EVENT_TYPE"))
            raise errors.InvalidInputError(
                f"{where}.properties: {shown!r} names no field of the Interactions schema (its fields, in camel "
                f"case: {', '.join(camel_case(name) for name in names)})"
            )
        if field.name in metadata:
            raise errors.InvalidInputError(f"{where}.properties names {field.name} twice")
        metadata[field.name] = property_text(raw, field, f"{where}.properties.{shown}")
    return metadata


def property_text(raw: object, field: Field, where: str) -> str:
    """A property's value as the events file keeps it (text), checked against the schema field's type."""
    if raw is None:
        if not field.nullable:
            raise errors.InvalidInputError(f"{where} cannot be null: {field.name} is not nullable")
        return ""
    if field.type in ("int", "long", "float", "double"):
        number = _number(raw)
        if number is None or (field.type in ("int", "long") and not number.is_integer()):
            raise errors.InvalidInputError(f"{where} must be a number ({field.type}) for {field.name}")
        bits = {"int": 31, "long": 63}.get(field.type)
        if bits is not None and not -(2**bits) <= number < 2**bits:
            raise errors.InvalidInputError(f"{where} does not fit a {bits + 1}-bit {field.type} for {field.name}")
        return str(int(number)) if field.type in ("int", "long") else repr(number)
    if field.type == "boolean":
        if not isinstance(raw, bool) and raw not in ("true", "false"):
            raise errors.InvalidInputError(f"{where} must be true or false for {field.name}")
        return str(raw).lower()
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise errors.InvalidInputError(f"{where} must be a string for {field.name}")
    text = raw if isinstance(raw, str) else str(raw)
    if field.categorical and len(text) > MAX_CATEGORICAL_LENGTH:
        raise errors.InvalidInputError(
            f"{where}: a categorical value is at most {MAX_CATEGORICAL_LENGTH} characters for {field.name}"
        )
    return text


def _number(raw: object) -> float | None:
    """A finite number from a JSON number or numeric string; None otherwise."""
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            return None
    if not _finite_number(raw):
        return None
    number = float(raw)
    return number if math.isfinite(number) else None


def _finite_number(value: object) -> bool:
    """A JSON number a float can hold: not a boolean, NaN, an infinity or an integer of hundreds of digits."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**1023
    return isinstance(value, float) and math.isfinite(value)


def _check_sent_at(sent_at: object, where: str) -> None:
    """sentAt must be epoch seconds from 2000 to a day ahead; InvalidInputException naming the event otherwise."""
    if not _finite_number(sent_at):
        raise errors.InvalidInputError(f"{where}.sentAt is required (a timestamp in epoch seconds)")
    latest = time.time() + SENT_AT_AHEAD_SECONDS
    if not EARLIEST_SENT_AT <= sent_at <= latest:
        shown = errors.shorten(repr(sent_at), 40)
        raise errors.InvalidInputError(
            f"{where}.sentAt {shown} is not a time between 2000-01-01 and one day from now in epoch seconds "
            "(milliseconds are not accepted)"
        )
