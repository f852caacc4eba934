"""What the local endpoint supports: every operation of the three Personalize APIs, and every request member.

One table, :data:`OPERATIONS`, covers each operation of botocore's ``personalize``, ``personalize-runtime`` and
``personalize-events`` models. An operation is implemented or not (an unimplemented one answers
UnknownOperationException). For an implemented one, each member of its input shape is

- ``honoured``: the endpoint uses it as the service does, and the entry names the test that shows it changing the
  answer (``path/to/test_module.py::test_function``);
- ``refused``: a request that sets it (anything but absent, empty, false, or a value the entry accepts because the
  endpoint behaves that way anyway) gets the service's InvalidInputException, saying what to do instead.

A member is named by its path in the input shape: ``solutionConfig.eventValueThreshold`` for a structure's member,
``eventList[].itemId`` for a member of a list's structures. A structure is either classified whole or walked (its
members classified one by one, and then it has no entry of its own). :func:`refuse_unsupported` enforces the table
for every request (:func:`personalize_local.request_validation.validate` calls it after the model's checks), a unit
test walks the botocore models against it, and ``python -m personalize_local.support`` writes
``docs/local-endpoint-support.md`` from it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from personalize_local import errors

HONOURED = "honoured"
REFUSED = "refused"
CONTROL_PLANE = "personalize"
RUNTIME = "personalize-runtime"
EVENTS = "personalize-events"
#: Where the generated page goes, relative to the repository root.
DOC_PATH = Path("docs/local-endpoint-support.md")


@dataclass(frozen=True)
class Member:
    status: str
    #: Honoured: what the endpoint does with it. Refused: why, and what to send instead.
    note: str
    #: Honoured: the test showing the member changes the answer, ``tests/...py::test_name``.
    proof: str | None = None
    #: Refused: values the endpoint takes as not set, because it behaves that way anyway (e.g. performHPO false).
    accepts: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Operation:
    service: str
    implemented: bool
    #: Unimplemented: why, and what to use locally instead. Implemented: empty, or a remark for the docs.
    note: str = ""
    members: Mapping[str, Member] = field(default_factory=dict)


def honoured(note: str, proof: str) -> Member:
    return Member(HONOURED, note, proof)


def refused(note: str, accepts: tuple[Any, ...] = ()) -> Member:
    return Member(REFUSED, note, accepts=accepts)


# ---- the tests that prove honoured members ---------------------------------------------------------------------

_INTEGRATION = "tests/integration/local_endpoint/"
API = _INTEGRATION + "test_local_endpoint_api.py::"
RECS = _INTEGRATION + "test_local_endpoint_recommendations.py::"
BATCH = _INTEGRATION + "test_local_endpoint_batch.py::"
DELETION = _INTEGRATION + "test_local_endpoint_data_deletion.py::"
PARAMS = _INTEGRATION + "test_local_endpoint_parameters.py::"
ISOLATION = "tests/unit/local_endpoint/test_local_serving_isolation.py::"
EVENTS_API = _INTEGRATION + "test_local_endpoint_events.py::"
RECIPES_API = _INTEGRATION + "test_local_endpoint_recipes.py::"

CREATED = PARAMS + "test_create_keeps_what_the_request_gave"
DESCRIBED = PARAMS + "test_describe_answers_for_the_arn_given"
DELETED = PARAMS + "test_delete_removes_the_resource_given"
LISTED = PARAMS + "test_list_keeps_the_parents_resources_and_pages"
LIFECYCLE = API + "test_full_lifecycle_from_import_to_recommendations"
SELECTED = PARAMS + "test_solution_settings_and_event_values_choose_what_trains"
UPDATED = PARAMS + "test_update_campaign_changes_its_capacity_and_exploration"

# ---- members shared by many operations -------------------------------------------------------------------------

TAGS = refused(
    "the local endpoint keeps no tags (it has no TagResource or ListTagsForResource); send the request without tags"
)
ROLE = honoured(
    "checked to be an IAM role ARN and shown by Describe; the endpoint reads and writes S3 with its own "
    "credentials, not through the role",
    CREATED,
)
KMS = refused("the local endpoint does not encrypt with KMS keys; leave kmsKeyArn out for local runs")
DOMAIN = refused(
    "domain dataset groups, schemas and recommenders are not served locally; use a custom dataset group and a "
    "custom recipe (leave domain out)"
)


def _name(what: str) -> Member:
    return honoured(f"names the {what}; its ARN ends with it and Describe and List show it", CREATED)


def _arn(what: str, proof: str = DESCRIBED) -> Member:
    return honoured(f"the {what} answered for; ResourceNotFoundException when there is none", proof)


def _paged(parent: str | None = None, proof: str = LISTED) -> dict[str, Member]:
    members = {
        "maxResults": honoured("at most this many per page, newest first (100 when absent)", proof),
        "nextToken": honoured("the page after the one that returned it; InvalidNextTokenException if unknown", proof),
    }
    if parent is not None:
        members[parent] = honoured("only the resources under this parent are listed", proof)
    return members


def _describe(member: str, what: str, proof: str = DESCRIBED) -> Operation:
    return Operation(CONTROL_PLANE, True, members={member: _arn(what, proof)})


def _delete(member: str, what: str, proof: str = DELETED) -> Operation:
    return Operation(
        CONTROL_PLANE,
        True,
        members={member: honoured(f"the {what} deleted (DELETE PENDING, then gone)", proof)},
    )


def _list(parent: str | None = None, proof: str = LISTED) -> Operation:
    return Operation(CONTROL_PLANE, True, members=_paged(parent, proof))


def _not_served(note: str, service: str = CONTROL_PLANE) -> Operation:
    return Operation(service, False, note)


_CAMPAIGN_CONFIG = {
    "campaignConfig.itemExplorationConfig": honoured(
        "explorationWeight and explorationItemAgeCutOff mix new items into the answers, as the service explores",
        RECS + "test_exploration_surfaces_new_items_only_when_the_campaign_asks",
    ),
    "campaignConfig.enableMetadataWithRecommendations": honoured(
        "lets GetRecommendations and GetPersonalizedRanking return the Items columns metadataColumns names",
        _INTEGRATION
        + "test_local_endpoint_recipes.py::test_metadata_columns_come_with_the_items_of_campaigns_that_enable_them",
    ),
    "campaignConfig.syncWithLatestSolutionVersion": honoured(
        "the campaign follows each new ACTIVE version of its solution",
        PARAMS + "test_a_synced_campaign_follows_the_new_version",
    ),
    "campaignConfig.rankingInfluence": refused(
        "ranking influence (freshness, popularity weights) is not applied locally; leave it out"
    ),
}
_TPS = honoured(
    "checked to be at least 1 and shown by Describe; the local endpoint serves any rate, with no capacity to provision",
    CREATED,
)
_BATCH_IO = {
    "jobName": _name("job"),
    "jobInput.s3DataSource.path": honoured(
        "the S3 object or folder whose JSON lines the job reads",
        BATCH + "test_a_batch_inference_job_answers_each_line_in_order",
    ),
    "jobInput.s3DataSource.kmsKeyArn": KMS,
    "jobOutput.s3DataDestination.path": honoured(
        "where the job writes <input file name>.out", BATCH + "test_a_batch_inference_job_answers_each_line_in_order"
    ),
    "jobOutput.s3DataDestination.kmsKeyArn": KMS,
    "roleArn": ROLE,
    "tags": TAGS,
}

_SOLUTION_CONFIG_REFUSED = {
    "hpoConfig": "hyperparameter optimization does not run locally (the trainer picks its factor count itself)",
    "algorithmHyperParameters": "the local ALS trainer does not take the service's hyperparameters",
    "featureTransformationParameters": "feature transformations are not applied locally",
    "autoMLConfig": "AutoML does not run locally",
    "eventsConfig": "per-event-type weights and thresholds (eventsConfig) are not applied locally",
    "optimizationObjective": "optimization objectives are not applied locally",
    "trainingDataConfig": "choosing the columns a version trains on (trainingDataConfig) is not applied locally",
    "autoTrainingConfig": "automatic training does not run locally; schedule CreateSolutionVersion yourself",
}

OPERATIONS: dict[str, Operation] = {
    # ---- schemas, dataset groups, datasets ----
    "CreateSchema": Operation(
        CONTROL_PLANE,
        True,
        members={
            "name": _name("schema"),
            "schema": honoured(
                "the Avro schema, checked as the service checks it; import jobs read their CSV with it",
                API + "test_error_codes",
            ),
            "domain": DOMAIN,
        },
    ),
    "DescribeSchema": _describe("schemaArn", "schema"),
    "ListSchemas": _list(),
    "DeleteSchema": _delete("schemaArn", "schema"),
    "CreateDatasetGroup": Operation(
        CONTROL_PLANE,
        True,
        members={"name": _name("dataset group"), "roleArn": ROLE, "kmsKeyArn": KMS, "domain": DOMAIN, "tags": TAGS},
    ),
    "DescribeDatasetGroup": _describe("datasetGroupArn", "dataset group"),
    "ListDatasetGroups": _list(),
    "DeleteDatasetGroup": _delete("datasetGroupArn", "dataset group"),
    "CreateDataset": Operation(
        CONTROL_PLANE,
        True,
        members={
            "name": _name("dataset"),
            "schemaArn": honoured("the schema the dataset's imports are read with", CREATED),
            "datasetGroupArn": honoured("the dataset group the dataset belongs to", CREATED),
            "datasetType": honoured("Interactions, Users or Items (any case); the ARN ends with it", CREATED),
            "tags": TAGS,
        },
    ),
    "DescribeDataset": _describe("datasetArn", "dataset"),
    "ListDatasets": _list("datasetGroupArn"),
    "UpdateDataset": Operation(
        CONTROL_PLANE,
        True,
        members={
            "datasetArn": honoured(
                "the dataset moved to the new schema", API + "test_update_dataset_moves_to_a_schema_that_adds_fields"
            ),
            "schemaArn": honoured(
                "the new schema, which must keep every field of the current one",
                API + "test_update_dataset_moves_to_a_schema_that_adds_fields",
            ),
        },
    ),
    "DeleteDataset": _delete("datasetArn", "dataset"),
    # ---- imports and data deletion ----
    "CreateDatasetImportJob": Operation(
        CONTROL_PLANE,
        True,
        members={
            "jobName": _name("import job"),
            "datasetArn": honoured("the dataset the CSV is imported into", LIFECYCLE),
            "dataSource.dataLocation": honoured(
                "the S3 object, or every CSV under the folder, read and validated as the service does",
                API + "test_a_bad_csv_fails_the_job_naming_file_line_and_column",
            ),
            "roleArn": ROLE,
            "importMode": honoured(
                "FULL replaces the dataset's bulk data, INCREMENTAL adds to it (after a first FULL import)",
                API + "test_incremental_import_is_refused_before_any_bulk_import",
            ),
            "publishAttributionMetricsToS3": refused(
                "metric attributions are not served locally; leave it out or false", accepts=(False,)
            ),
            "tags": TAGS,
        },
    ),
    "DescribeDatasetImportJob": _describe("datasetImportJobArn", "import job"),
    "ListDatasetImportJobs": _list("datasetArn"),
    "CreateDataDeletionJob": Operation(
        CONTROL_PLANE,
        True,
        members={
            "jobName": _name("data deletion job"),
            "datasetGroupArn": honoured(
                "the dataset group whose users are deleted",
                DELETION + "test_a_deleted_member_is_gone_from_data_serving_and_training",
            ),
            "dataSource.dataLocation": honoured(
                "the S3 object or folder listing the users to delete",
                DELETION + "test_a_folder_location_lists_users_in_every_file_under_it",
            ),
            "roleArn": honoured(
                "required, checked to be an IAM role ARN; S3 is read with the endpoint's own credentials",
                DELETION + "test_create_refuses_a_bad_role_a_taken_name_and_an_unknown_group",
            ),
            "tags": TAGS,
        },
    ),
    "DescribeDataDeletionJob": _describe(
        "dataDeletionJobArn",
        "data deletion job",
        DELETION + "test_a_deleted_member_is_gone_from_data_serving_and_training",
    ),
    "ListDataDeletionJobs": _list("datasetGroupArn"),
    # ---- solutions, versions, recipes ----
    "CreateSolution": Operation(
        CONTROL_PLANE,
        True,
        members={
            "name": _name("solution"),
            "performHPO": refused("hyperparameter optimization does not run locally; leave it false", accepts=(False,)),
            "performAutoML": refused("AutoML does not run locally; choose a recipeArn", accepts=(False,)),
            "performAutoTraining": refused(
                "automatic training does not run locally (DescribeSolution shows false); create solution versions "
                "yourself and leave it out or false",
                accepts=(False,),
            ),
            "performIncrementalUpdate": refused(
                "incremental model updates do not run locally; leave it out or false", accepts=(False,)
            ),
            "recipeArn": honoured(
                "User-Personalization (v1 and v2) trains implicit ALS, Popularity-Count ranks by popularity, "
                "Item-Affinity trains the factors segment jobs read; other recipes are refused",
                PARAMS + "test_the_recipe_decides_how_versions_rank",
            ),
            "datasetGroupArn": honoured("the dataset group whose interactions the versions train on", CREATED),
            "eventType": honoured(
                "versions train only on interactions of this event type",
                SELECTED,
            ),
            "solutionConfig.eventValueThreshold": honoured(
                "versions train only on interactions whose EVENT_VALUE is at least this",
                SELECTED,
            ),
            **{
                f"solutionConfig.{name}": refused(f"{reason}; leave solutionConfig.{name} out")
                for name, reason in _SOLUTION_CONFIG_REFUSED.items()
            },
            "tags": TAGS,
        },
    ),
    "DescribeSolution": _describe("solutionArn", "solution"),
    "ListSolutions": _list("datasetGroupArn"),
    "DeleteSolution": _delete("solutionArn", "solution"),
    "CreateSolutionVersion": Operation(
        CONTROL_PLANE,
        True,
        members={
            "name": honoured(
                "names the version; Describe shows it", PARAMS + "test_a_synced_campaign_follows_the_new_version"
            ),
            "solutionArn": honoured("the solution trained; the version's ARN hangs under it", LIFECYCLE),
            "trainingMode": honoured(
                "FULL trains anew; UPDATE keeps the latest FULL version's factors (User-Personalization only)",
                API + "test_update_training_and_deletes",
            ),
            "tags": TAGS,
        },
    ),
    "DescribeSolutionVersion": _describe("solutionVersionArn", "solution version"),
    "ListSolutionVersions": _list("solutionArn"),
    "GetSolutionMetrics": _describe("solutionVersionArn", "solution version's offline metrics", LIFECYCLE),
    "ListRecipes": Operation(
        CONTROL_PLANE,
        True,
        members={
            "recipeProvider": honoured(
                "SERVICE, the model's only value: the same list, since every recipe served is a service recipe",
                PARAMS + "test_list_recipes_of_the_service_provider",
            ),
            "domain": honoured(
                "ECOMMERCE or VIDEO_ON_DEMAND: that domain's use-case recipes (listed; recommenders are not served)",
                RECIPES_API + "test_list_recipes_by_domain_and_the_recipe_types",
            ),
            "maxResults": honoured("the page size", RECIPES_API + "test_list_recipes_by_domain_and_the_recipe_types"),
            "nextToken": honoured("the next page", RECIPES_API + "test_list_recipes_by_domain_and_the_recipe_types"),
        },
    ),
    "DescribeRecipe": _describe("recipeArn", "recipe"),
    # ---- campaigns ----
    "CreateCampaign": Operation(
        CONTROL_PLANE,
        True,
        members={
            "name": _name("campaign"),
            "solutionVersionArn": honoured(
                "the ACTIVE version served (<solutionArn>/$LATEST: the newest ACTIVE one)", LIFECYCLE
            ),
            "minProvisionedTPS": _TPS,
            **_CAMPAIGN_CONFIG,
            "tags": TAGS,
        },
    ),
    "DescribeCampaign": _describe("campaignArn", "campaign"),
    "ListCampaigns": _list("solutionArn"),
    "UpdateCampaign": Operation(
        CONTROL_PLANE,
        True,
        members={
            "campaignArn": honoured(
                "the campaign updated (latestCampaignUpdate until ACTIVE)",
                API + "test_update_campaign_moves_through_latest_campaign_update",
            ),
            "solutionVersionArn": honoured(
                "the version served once the update is ACTIVE",
                API + "test_update_campaign_moves_through_latest_campaign_update",
            ),
            "minProvisionedTPS": honoured(_TPS.note, UPDATED),
            **_CAMPAIGN_CONFIG,
            "campaignConfig.itemExplorationConfig": honoured(
                "the new exploration applies once the update is ACTIVE", UPDATED
            ),
        },
    ),
    "DeleteCampaign": _delete("campaignArn", "campaign", API + "test_update_training_and_deletes"),
    # ---- event trackers and filters ----
    "CreateEventTracker": Operation(
        CONTROL_PLANE,
        True,
        members={
            "name": _name("event tracker"),
            "datasetGroupArn": honoured(
                "the dataset group PutEvents with its trackingId writes to (one tracker per group)",
                RECS + "test_put_events_update_recommendations_and_join_sessions_at_the_next_full_training",
            ),
            "tags": TAGS,
        },
    ),
    "DescribeEventTracker": _describe("eventTrackerArn", "event tracker"),
    "ListEventTrackers": _list("datasetGroupArn"),
    "DeleteEventTracker": _delete("eventTrackerArn", "event tracker"),
    "CreateFilter": Operation(
        CONTROL_PLANE,
        True,
        members={
            "name": _name("filter"),
            "datasetGroupArn": honoured("the dataset group whose Items schema the expression is checked on", CREATED),
            "filterExpression": honoured(
                "the expression GetRecommendations and batch inference apply",
                RECS + "test_size_filter_keeps_only_items_in_the_given_sizes",
            ),
            "tags": TAGS,
        },
    ),
    "DescribeFilter": _describe("filterArn", "filter"),
    "ListFilters": _list("datasetGroupArn"),
    "DeleteFilter": _delete("filterArn", "filter", API + "test_update_training_and_deletes"),
    # ---- batch jobs ----
    "CreateBatchInferenceJob": Operation(
        CONTROL_PLANE,
        True,
        members={
            **_BATCH_IO,
            "solutionVersionArn": honoured(
                "the USER_PERSONALIZATION (or Popularity-Count) version that answers each line",
                BATCH + "test_a_batch_inference_job_answers_each_line_in_order",
            ),
            "filterArn": honoured(
                "the filter applied to each line, with the line's filterValues",
                BATCH + "test_a_batch_inference_job_answers_each_line_in_order",
            ),
            "numResults": honoured(
                "items per line (25 when absent)", BATCH + "test_a_batch_inference_job_answers_each_line_in_order"
            ),
            "batchInferenceJobConfig.itemExplorationConfig": honoured(
                "exploration of new items, as a campaign's",
                BATCH + "test_a_batch_inference_job_answers_each_line_in_order",
            ),
            "batchInferenceJobConfig.rankingInfluence": refused(
                "ranking influence is not applied locally; leave it out"
            ),
            "batchInferenceJobMode": refused(
                "only BATCH_INFERENCE runs locally (themes need the Similar-Items recipe)",
                accepts=("BATCH_INFERENCE",),
            ),
            "themeGenerationConfig": refused("themes need the Similar-Items recipe, not served locally; leave it out"),
        },
    ),
    "DescribeBatchInferenceJob": _describe(
        "batchInferenceJobArn", "batch inference job", BATCH + "test_a_batch_inference_job_answers_each_line_in_order"
    ),
    "ListBatchInferenceJobs": _list("solutionVersionArn"),
    "CreateBatchSegmentJob": Operation(
        CONTROL_PLANE,
        True,
        members={
            **_BATCH_IO,
            "solutionVersionArn": honoured(
                "the Item-Affinity version whose factors find each item's users",
                BATCH + "test_a_batch_segment_job_finds_the_users_for_each_item",
            ),
            "filterArn": refused(
                "segment filters select users, and local filters select items only; leave filterArn out"
            ),
            "numResults": honoured("users per item", BATCH + "test_a_batch_segment_job_finds_the_users_for_each_item"),
        },
    ),
    "DescribeBatchSegmentJob": _describe(
        "batchSegmentJobArn", "batch segment job", BATCH + "test_a_batch_segment_job_finds_the_users_for_each_item"
    ),
    "ListBatchSegmentJobs": _list("solutionVersionArn"),
    # ---- the runtime and events APIs ----
    "GetRecommendations": Operation(
        RUNTIME,
        True,
        members={
            "campaignArn": honoured("the campaign whose version answers", LIFECYCLE),
            "userId": honoured(
                "the user (or session) recommended for: her history and factors",
                RECS + "test_the_model_learns_the_size_structure",
            ),
            "numResults": honoured("how many items (25 when absent, at most 500)", LIFECYCLE),
            "filterArn": honoured("the filter applied", RECS + "test_size_filter_keeps_only_items_in_the_given_sizes"),
            "filterValues": honoured(
                "the values of the filter's placeholders", RECS + "test_size_filter_keeps_only_items_in_the_given_sizes"
            ),
            "itemId": honoured(
                "the item a SIMS campaign finds related items for (refused on other campaigns, as it means nothing)",
                RECIPES_API + "test_sims_related_items_co_occur_with_the_item_and_share_its_taste",
            ),
            "context": refused("contextual metadata is not used by the local models; leave context out"),
            "recommenderArn": refused("recommenders (domain dataset groups) are not served locally; use a campaignArn"),
            "promotions": honoured(
                "name, percentPromotedItems, filterArn and filterValues: the promotion's filter picks its share of "
                "numResults, marked with promotionName and placed among the others",
                RECIPES_API + "test_promoted_items_match_the_promotion_filter_and_take_their_share",
            ),
            "metadataColumns": honoured(
                "Items columns returned with each item, on campaigns with enableMetadataWithRecommendations",
                RECIPES_API + "test_metadata_columns_come_with_the_items_of_campaigns_that_enable_them",
            ),
        },
    ),
    "PutEvents": Operation(
        EVENTS,
        True,
        members={
            "trackingId": honoured(
                "the event tracker, and so the dataset group, the events go to",
                RECS + "test_put_events_update_recommendations_and_join_sessions_at_the_next_full_training",
            ),
            "userId": honoured(
                "the user; an event with both ids joins the session to her at the next FULL training",
                RECS + "test_put_events_update_recommendations_and_join_sessions_at_the_next_full_training",
            ),
            "sessionId": honoured(
                "the session, which works as a user id in real time",
                RECS + "test_put_events_update_recommendations_and_join_sessions_at_the_next_full_training",
            ),
            "eventList[].eventId": honoured(
                "a repeated eventId is not used again",
                ISOLATION + "test_events_streamed_while_a_history_is_built_are_in_it_once",
            ),
            "eventList[].eventType": honoured(
                "the event's type, for filters and training (a solution's eventType selects on it)",
                SELECTED,
            ),
            "eventList[].eventValue": honoured(
                "stored as the event's EVENT_VALUE, which solutionConfig.eventValueThreshold selects on at training",
                SELECTED,
            ),
            "eventList[].itemId": honoured(
                "the item, in the history that shapes the next answers",
                RECS + "test_put_events_update_recommendations_and_join_sessions_at_the_next_full_training",
            ),
            "eventList[].properties": honoured(
                "JSON of the event's fields in camel case (itemId, eventValue, the Interactions schema's other "
                "fields): itemId counts as the itemId member does; unknown keys and wrong types are refused",
                EVENTS_API + "test_an_item_sent_in_properties_moves_recommendations_like_item_id_and_feeds_filters",
            ),
            "eventList[].sentAt": honoured(
                "the event's time (epoch seconds, 2000 to a day ahead)",
                RECS + "test_put_events_update_recommendations_and_join_sessions_at_the_next_full_training",
            ),
            "eventList[].recommendationId": honoured(
                "without an impression, the items of that recommendation count as shown to her",
                EVENTS_API + "test_an_impression_passed_over_is_not_explored_again_and_a_recommendation_id_implies_one",
            ),
            "eventList[].impression": honoured(
                "items shown: one she passed over is not explored for her again",
                EVENTS_API + "test_an_impression_passed_over_is_not_explored_again_and_a_recommendation_id_implies_one",
            ),
            "eventList[].metricAttribution": refused(
                "metric attributions are not served locally; leave metricAttribution out"
            ),
        },
    ),
    "GetPersonalizedRanking": Operation(
        RUNTIME,
        True,
        members={
            "campaignArn": honoured(
                "the Personalized-Ranking campaign whose version ranks",
                RECIPES_API + "test_ranking_reorders_the_input_for_each_member_and_keeps_every_item",
            ),
            "inputList": honoured(
                "the items to order; items the training never saw come last with score 0",
                RECIPES_API + "test_ranking_reorders_the_input_for_each_member_and_keeps_every_item",
            ),
            "userId": honoured(
                "the user ranked for",
                RECIPES_API + "test_ranking_reorders_the_input_for_each_member_and_keeps_every_item",
            ),
            "context": refused("contextual metadata is not used by the local models; leave context out"),
            "filterArn": honoured(
                "the filter applied to the input items",
                RECIPES_API + "test_ranking_honours_filters_and_refuses_what_it_cannot_serve",
            ),
            "filterValues": honoured(
                "the values of the filter's placeholders",
                RECIPES_API + "test_ranking_honours_filters_and_refuses_what_it_cannot_serve",
            ),
            "metadataColumns": honoured(
                "Items columns returned with each item, on campaigns with enableMetadataWithRecommendations",
                RECIPES_API + "test_metadata_columns_come_with_the_items_of_campaigns_that_enable_them",
            ),
        },
    ),
    "PutItems": Operation(
        EVENTS,
        True,
        members={
            "datasetArn": honoured(
                "the Items dataset the records join (another type is refused)",
                EVENTS_API + "test_bad_items_and_users_are_refused_naming_the_record_and_field",
            ),
            "items": honoured(
                "1 to 10 records checked against the schema, in the Items data at once and after a restart",
                EVENTS_API + "test_put_items_reaches_filters_at_once_and_survives_a_restart",
            ),
        },
    ),
    "PutUsers": Operation(
        EVENTS,
        True,
        members={
            "datasetArn": honoured(
                "the Users dataset the records join (another type is refused)",
                EVENTS_API + "test_bad_items_and_users_are_refused_naming_the_record_and_field",
            ),
            "users": honoured(
                "1 to 10 records checked against the schema, replacing her earlier record at once",
                EVENTS_API + "test_put_users_changes_what_a_current_user_filter_gives",
            ),
        },
    ),
    # ---- not implemented ----
    "GetActionRecommendations": _not_served("actions are not served locally", RUNTIME),
    "PutActions": _not_served("actions are not served locally", EVENTS),
    "PutActionInteractions": _not_served("actions are not served locally", EVENTS),
    **{
        name: _not_served(note)
        for names, note in (
            (
                ("CreateDatasetExportJob", "DescribeDatasetExportJob", "ListDatasetExportJobs"),
                "dataset export jobs are not served locally; the data you imported is in your own S3 files",
            ),
            (
                (
                    "CreateMetricAttribution",
                    "DescribeMetricAttribution",
                    "ListMetricAttributions",
                    "ListMetricAttributionMetrics",
                    "UpdateMetricAttribution",
                    "DeleteMetricAttribution",
                ),
                "metric attributions are not served locally",
            ),
            (
                (
                    "CreateRecommender",
                    "DescribeRecommender",
                    "ListRecommenders",
                    "UpdateRecommender",
                    "DeleteRecommender",
                    "StartRecommender",
                    "StopRecommender",
                ),
                "recommenders (domain dataset groups) are not served locally; use a solution and a campaign",
            ),
            (("TagResource", "UntagResource", "ListTagsForResource"), "the local endpoint keeps no tags"),
            (
                ("DescribeAlgorithm", "DescribeFeatureTransformation"),
                "the service's algorithms and feature transformations are not described locally; DescribeRecipe is",
            ),
            (("StopSolutionVersionCreation",), "training cannot be stopped locally; delete the solution once it ends"),
            (("UpdateSolution",), "solutions cannot be updated locally; create a new solution"),
        )
        for name in names
    },
}


# ---- enforcing the table ---------------------------------------------------------------------------------------


def _is_set(value: Any, accepts: tuple[Any, ...]) -> bool:
    """Whether a request value asks for something: not absent, empty or false, and not a value the entry accepts."""
    if value is None or value is False or value in ("", [], {}):
        return False
    if any(value == accepted and type(value) is type(accepted) for accepted in accepts):
        return False
    if isinstance(value, dict):
        return any(_is_set(inner, ()) for inner in value.values())
    if isinstance(value, list):
        return any(_is_set(inner, ()) for inner in value)
    return True


def _values_at(body: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(concrete path, value) for every place ``path`` names in the body: ``eventList[2].properties`` and so on."""
    head, _, rest = path.partition(".")
    in_list = head.endswith("[]")
    name = head.removesuffix("[]")
    if not isinstance(body, dict) or body.get(name) is None:
        return
    value = body[name]
    if in_list:
        elements = value if isinstance(value, list) else []
        for position, element in enumerate(elements):
            where = f"{name}[{position}]"
            for inner, found in _values_at(element, rest) if rest else ((None, element),):
                yield (f"{where}.{inner}" if inner else where), found
        return
    if not rest:
        yield name, value
        return
    for inner, found in _values_at(value, rest):
        yield f"{name}.{inner}", found


def refuse_unsupported(operation: str, body: dict[str, Any]) -> None:
    """InvalidInputException if the request sets a member the local endpoint refuses (see :data:`OPERATIONS`).

    Operations the table does not mark implemented are left to the router, which answers UnknownOperation.
    """
    spec = OPERATIONS.get(operation)
    if spec is None or not spec.implemented:
        return
    for path, member in spec.members.items():
        if member.status != REFUSED:
            continue
        for where, value in _values_at(body, path):
            if _is_set(value, member.accepts):
                raise errors.InvalidInputError(
                    f"{where} is not supported by the local endpoint: {member.note}. "
                    f"See {DOC_PATH.as_posix()} for what it supports."
                )


def unknown_operation_message(operation: str) -> str:
    """What an unimplemented operation answers: that it is not served locally, why, and what to use instead."""
    spec = OPERATIONS.get(operation)
    reason = f": {spec.note}" if spec is not None and not spec.implemented and spec.note else ""
    return f"Operation {operation} is not supported by the local endpoint{reason}"


@cache
def _rest_routes() -> dict[str, str]:
    import botocore.session

    session = botocore.session.get_session()
    routes = {}
    for service in (RUNTIME, EVENTS):
        model = session.get_service_model(service)
        for name in model.operation_names:
            routes[model.operation_model(name).http["requestUri"]] = name
    return routes


def rest_operation(path: str) -> str | None:
    """The runtime or events operation whose route is ``path`` (``/personalize-ranking``: GetPersonalizedRanking)."""
    return _rest_routes().get(path)


# ---- the generated page ----------------------------------------------------------------------------------------

_SERVICE_TITLES = {
    CONTROL_PLANE: "Control plane (`personalize`)",
    RUNTIME: "Runtime (`personalize-runtime`)",
    EVENTS: "Events (`personalize-events`)",
}


def totals() -> dict[str, int]:
    """Counts for the page's summary: operations implemented and not, members honoured and refused."""
    implemented = [spec for spec in OPERATIONS.values() if spec.implemented]
    members = [member for spec in implemented for member in spec.members.values()]
    return {
        "operations": len(OPERATIONS),
        "implemented": len(implemented),
        "not_implemented": len(OPERATIONS) - len(implemented),
        "honoured": sum(member.status == HONOURED for member in members),
        "refused": sum(member.status == REFUSED for member in members),
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown() -> str:
    """``docs/local-endpoint-support.md``: every operation and request member, from :data:`OPERATIONS`."""
    counts = totals()
    lines = [
        "# What the local Personalize endpoint supports",
        "",
        "<!-- Generated from include/personalize_local/support.py by `make support-doc` "
        "(`python -m personalize_local.support`); do not edit. -->",
        "",
        f"Of the {counts['operations']} operations in botocore's three Personalize models, the local endpoint "
        f"implements {counts['implemented']}; the other {counts['not_implemented']} answer "
        "`UnknownOperationException`. Of the request members of the implemented operations, "
        f"{counts['honoured']} are honoured and {counts['refused']} are refused: a request that sets a refused "
        "member gets `InvalidInputException` saying so, never an answer that quietly ignores it.",
        "",
        "A member is named by its path in the input shape (`solutionConfig.eventValueThreshold`, "
        "`eventList[].itemId`). Refused members may still be sent empty or false (and with the values listed), "
        "which is what the endpoint does anyway. Each honoured member names the test that shows it changing "
        "the answer.",
    ]
    for service, title in _SERVICE_TITLES.items():
        names = sorted(name for name, spec in OPERATIONS.items() if spec.service == service)
        lines += ["", f"## {title}", ""]
        lines += ["| Operation | Locally |", "| --- | --- |"]
        for name in names:
            spec = OPERATIONS[name]
            state = "implemented" if spec.implemented else f"not implemented: {spec.note}"
            lines.append(
                f"| [{name}](#{name.lower()}) | {_cell(state)} |"
                if spec.implemented
                else f"| {name} | {_cell(state)} |"
            )
        for name in names:
            spec = OPERATIONS[name]
            if not spec.implemented:
                continue
            lines += [
                "",
                f"### {name}",
                "",
                "| Member | Locally | What it does / why not | Proof |",
                "| --- | --- | --- | --- |",
            ]
            for path, member in spec.members.items():
                note = member.note
                if member.accepts:
                    note += " (accepted: " + ", ".join(f"`{_literal(value)}`" for value in member.accepts) + ")"
                proof = f"`{member.proof}`" if member.proof else ""
                lines.append(f"| `{path}` | {member.status} | {_cell(note)} | {_cell(proof)} |")
    return "\n".join(lines) + "\n"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    """Write the page under the repository root (or the directory given)."""
    arguments = sys.argv[1:] if argv is None else argv
    root = Path(arguments[0]) if arguments else Path(__file__).resolve().parents[2]
    target = root / DOC_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
