"""SIMS, Personalized-Ranking, promotions and ListRecipes' domains, through stock boto3 against a running endpoint.

The data is tiny and plain on purpose: 40 members in four tastes (A-D), each meeting mostly the 10 items of her
taste (the item's CUP_SIZE column carries its taste), so what a recipe should answer is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from personalize_local import synthetic

from .conftest import Clients, build_group, import_csv, make_clients, unique, wait_for

TASTES = "ABCD"
ITEMS_PER_TASTE = 10
USERS_PER_TASTE = 10
START = 1_730_000_000
SIMS = "arn:aws:personalize:::recipe/aws-sims"
RANKING = "arn:aws:personalize:::recipe/aws-personalized-ranking"
USER_PERSONALIZATION = "arn:aws:personalize:::recipe/aws-user-personalization"
METRIC_NAMES = {
    "coverage",
    "mean_reciprocal_rank_at_25",
    *(f"{name}_at_{k}" for name in ("normalized_discounted_cumulative_gain", "precision") for k in (5, 10, 25)),
}


def taste_of(item_id: str) -> str:
    return item_id[0]


def tiny_data() -> tuple[Any, Any]:
    """(interactions, items) frames of strings: 1,200 interactions, 30 per member, 27 of them in her taste."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    rows = []
    for t, taste in enumerate(TASTES):
        own = [f"{taste}{i}" for i in range(ITEMS_PER_TASTE)]
        others = [f"{o}{i}" for o in TASTES if o != taste for i in range(ITEMS_PER_TASTE)]
        for u in range(USERS_PER_TASTE):
            picks = list(rng.choice(own, 27)) + list(rng.choice(others, 3))
            for n, item in enumerate(picks):
                rows.append((f"u{taste}{u}", item, str(START + 3600 * (t * 1000 + u * 40 + n)), "click"))
    interactions = pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"], dtype="str")
    interactions = interactions.reindex(
        columns=["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "DEVICE"], fill_value=""
    )
    item_ids = [f"{taste}{i}" for taste in TASTES for i in range(ITEMS_PER_TASTE)]
    items = pd.DataFrame(
        {
            "ITEM_ID": item_ids,
            "CREATION_TIMESTAMP": str(START),
            "CUP_SIZE": [f"{taste_of(i)}|E" if i == "D9" else taste_of(i) for i in item_ids],
        }
    )
    columns = [field["name"] for field in synthetic.SCHEMAS["Items"]["fields"]]
    return interactions, items.reindex(columns=columns, fill_value="")


@dataclass
class Catalog:
    clients: Clients
    group_arn: str
    interactions: Any
    versions: dict[str, str]  # recipe ARN -> solution version ARN
    campaigns: dict[str, str]  # recipe ARN -> campaign ARN


@pytest.fixture(scope="module")
def catalog(start_endpoint, s3_server, tmp_path_factory) -> Catalog:
    endpoint = start_endpoint(tmp_path_factory.mktemp("endpoint"))
    clients = make_clients(endpoint.url)
    p = clients.personalize
    interactions, items = tiny_data()
    group = build_group(clients)
    prefix = unique("recipes")
    for dataset_type, frame in (("Interactions", interactions), ("Items", items)):
        location = s3_server.put_csv(f"{prefix}/{dataset_type.lower()}.csv", synthetic.to_csv(frame))
        assert import_csv(clients, group.datasets[dataset_type], location)["status"] == "ACTIVE"
    versions = {}
    for recipe in (SIMS, RANKING, USER_PERSONALIZATION):
        solution = p.create_solution(name=unique("sol"), datasetGroupArn=group.arn, recipeArn=recipe)["solutionArn"]
        wait_for(lambda solution=solution: p.describe_solution(solutionArn=solution)["solution"])
        versions[recipe] = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    campaigns = {}
    for recipe, version in versions.items():
        described = wait_for(lambda v=version: p.describe_solution_version(solutionVersionArn=v)["solutionVersion"])
        assert described["status"] == "ACTIVE", described.get("failureReason")
        campaigns[recipe] = p.create_campaign(
            name=unique("campaign"),
            solutionVersionArn=version,
            campaignConfig={
                "itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "30"},
                "enableMetadataWithRecommendations": True,
            }
            if recipe == USER_PERSONALIZATION
            else {"enableMetadataWithRecommendations": recipe == RANKING},
        )["campaignArn"]
    for campaign in campaigns.values():
        wait_for(lambda c=campaign: p.describe_campaign(campaignArn=c)["campaign"])
    return Catalog(clients, group.arn, interactions, versions, campaigns)


def create_filter(catalog: Catalog, expression: str) -> str:
    p = catalog.clients.personalize
    arn = p.create_filter(name=unique("filter"), datasetGroupArn=catalog.group_arn, filterExpression=expression)[
        "filterArn"
    ]
    assert wait_for(lambda: p.describe_filter(filterArn=arn)["filter"])["status"] == "ACTIVE"
    return arn


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


# ---- SIMS ----------------------------------------------------------------------------------------------------


def test_sims_related_items_co_occur_with_the_item_and_share_its_taste(catalog):
    runtime = catalog.clients.runtime
    frame = catalog.interactions
    users_of = frame.groupby("ITEM_ID")["USER_ID"].agg(set)
    for item in ("A3", "C7"):
        related = [
            r["itemId"]
            for r in runtime.get_recommendations(campaignArn=catalog.campaigns[SIMS], itemId=item, numResults=8)[
                "itemList"
            ]
        ]
        assert len(related) == 8
        assert item not in related
        # Every related item was met by a member who met the item; the best ones are of the item's taste.
        assert all(users_of[other] & users_of[item] for other in related)
        assert [taste_of(other) for other in related[:5]] == [taste_of(item)] * 5


def test_sims_takes_filters_and_needs_an_item(catalog):
    runtime = catalog.clients.runtime
    only = create_filter(catalog, "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($TASTE)")
    related = runtime.get_recommendations(
        campaignArn=catalog.campaigns[SIMS], itemId="A3", filterArn=only, filterValues={"TASTE": '"B"'}
    )["itemList"]
    assert related
    assert {taste_of(r["itemId"]) for r in related} == {"B"}
    # userId is optional for SIMS; an Interactions filter reads the given member's history.
    unseen = create_filter(catalog, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")')
    met = set(catalog.interactions.loc[catalog.interactions["USER_ID"] == "uA0", "ITEM_ID"])
    kept = runtime.get_recommendations(
        campaignArn=catalog.campaigns[SIMS], itemId="A3", userId="uA0", filterArn=unseen, numResults=50
    )["itemList"]
    assert kept
    assert not {r["itemId"] for r in kept} & met
    # A promotion on a SIMS campaign: its share comes from the promotion filter, never the item asked about.
    promoted = runtime.get_recommendations(
        campaignArn=catalog.campaigns[SIMS],
        itemId="A3",
        numResults=10,
        promotions=[{"name": "b", "percentPromotedItems": 30, "filterArn": only, "filterValues": {"TASTE": '"B"'}}],
    )["itemList"]
    assert len(promoted) == 10
    assert [taste_of(r["itemId"]) for r in promoted if r.get("promotionName") == "b"] == ["B"] * 3
    assert "A3" not in {r["itemId"] for r in promoted}
    code, message = error_of(runtime.get_recommendations, campaignArn=catalog.campaigns[SIMS], userId="uA0")
    assert code == "InvalidInputException"
    assert "itemId is required" in message


# ---- Personalized-Ranking ------------------------------------------------------------------------------------


def test_ranking_reorders_the_input_for_each_member_and_keeps_every_item(catalog):
    runtime = catalog.clients.runtime
    input_list = ["D1", "B2", "A4", "C5", "ghost", "A6", "B7"]
    answers = {}
    for user in ("uA1", "uB1"):
        response = runtime.get_personalized_ranking(
            campaignArn=catalog.campaigns[RANKING], userId=user, inputList=input_list
        )
        ranked = response["personalizedRanking"]
        assert response["recommendationId"]
        assert sorted(r["itemId"] for r in ranked) == sorted(input_list)
        # An item the training never saw comes last with score 0; the known ones' scores sum to 1.
        assert ranked[-1] == {"itemId": "ghost", "score": 0.0}
        assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-4)
        answers[user] = [r["itemId"] for r in ranked]
    assert {taste_of(i) for i in answers["uA1"][:2]} == {"A"}
    assert {taste_of(i) for i in answers["uB1"][:2]} == {"B"}


def test_ranking_honours_filters_and_refuses_what_it_cannot_serve(catalog):
    runtime = catalog.clients.runtime
    campaign = catalog.campaigns[RANKING]
    only = create_filter(catalog, "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($TASTE)")
    ranked = runtime.get_personalized_ranking(
        campaignArn=campaign,
        userId="uA1",
        inputList=["A1", "B2", "C3", "B4"],
        filterArn=only,
        filterValues={"TASTE": '"B"'},
    )["personalizedRanking"]
    assert sorted(r["itemId"] for r in ranked) == ["B2", "B4"]
    code, message = error_of(
        runtime.get_personalized_ranking,
        campaignArn=campaign,
        userId="uA1",
        inputList=["A1"],
        context={"DEVICE": "web"},
    )
    assert code == "InvalidInputException"
    assert "context is not supported by the local endpoint" in message
    code, message = error_of(
        runtime.get_personalized_ranking,
        campaignArn=catalog.campaigns[USER_PERSONALIZATION],
        userId="uA1",
        inputList=["A1"],
    )
    assert code == "InvalidInputException"
    assert "PERSONALIZED_RANKING" in message
    code, message = error_of(runtime.get_recommendations, campaignArn=campaign, userId="uA1")
    assert code == "InvalidInputException"
    assert "GetPersonalizedRanking" in message


# ---- metadata in recommendations -----------------------------------------------------------------------------


def test_metadata_columns_come_with_the_items_of_campaigns_that_enable_them(catalog):
    runtime = catalog.clients.runtime
    listed = runtime.get_recommendations(
        campaignArn=catalog.campaigns[USER_PERSONALIZATION],
        userId="uB3",
        numResults=5,
        metadataColumns={"ITEMS": ["CUP_SIZE"]},
    )["itemList"]
    assert [r["metadata"] for r in listed] == [{"CUP_SIZE": taste_of(r["itemId"])} for r in listed]
    ranked = runtime.get_personalized_ranking(
        campaignArn=catalog.campaigns[RANKING],
        userId="uB3",
        inputList=["C1", "ghost"],
        metadataColumns={"ITEMS": ["CUP_SIZE"]},
    )["personalizedRanking"]
    assert ranked == [
        {"itemId": "C1", "score": ranked[0]["score"], "metadata": {"CUP_SIZE": "C"}},
        {"itemId": "ghost", "score": 0.0, "metadata": {}},
    ]
    plain = runtime.get_recommendations(campaignArn=catalog.campaigns[USER_PERSONALIZATION], userId="uB3")["itemList"]
    assert all("metadata" not in r for r in plain)
    code, message = error_of(
        runtime.get_recommendations,
        campaignArn=catalog.campaigns[SIMS],
        itemId="A1",
        metadataColumns={"ITEMS": ["CUP_SIZE"]},
    )
    assert code == "InvalidInputException"
    assert "enableMetadataWithRecommendations" in message
    code, message = error_of(
        runtime.get_recommendations,
        campaignArn=catalog.campaigns[USER_PERSONALIZATION],
        userId="uB3",
        metadataColumns={"ITEMS": ["COLOUR"]},
    )
    assert code == "InvalidInputException"
    assert "COLOUR" in message
    code, message = error_of(
        runtime.get_personalized_ranking,
        campaignArn=catalog.campaigns[RANKING],
        userId="uB3",
        inputList=[f"x{i}" for i in range(51)],
        metadataColumns={"ITEMS": ["CUP_SIZE"]},
    )
    assert code == "InvalidInputException"
    assert "at most 50" in message


# ---- metrics -------------------------------------------------------------------------------------------------


def test_each_recipe_reports_the_service_metric_names(catalog):
    p = catalog.clients.personalize
    for recipe, version in catalog.versions.items():
        metrics = p.get_solution_metrics(solutionVersionArn=version)["metrics"]
        assert set(metrics) == METRIC_NAMES, recipe
        assert 0.0 <= metrics["precision_at_5"] <= 1.0


# ---- promotions ----------------------------------------------------------------------------------------------


def test_promoted_items_match_the_promotion_filter_and_take_their_share(catalog):
    runtime = catalog.clients.runtime
    campaign = catalog.campaigns[USER_PERSONALIZATION]
    taste = create_filter(catalog, "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($TASTE)")
    not_c = create_filter(catalog, 'EXCLUDE ItemID WHERE Items.CUP_SIZE IN ("C")')
    promotion = {"name": "c-week", "percentPromotedItems": 20, "filterArn": taste, "filterValues": {"TASTE": '"C"'}}

    def ids(**kwargs) -> list[dict[str, Any]]:
        return runtime.get_recommendations(campaignArn=campaign, userId="uA2", numResults=10, **kwargs)["itemList"]

    for _ in range(5):  # positions are random: the rules must hold every time
        answer = ids(filterArn=not_c, promotions=[promotion])
        assert len(answer) == 10
        promoted = [r["itemId"] for r in answer if r.get("promotionName") == "c-week"]
        others = [r["itemId"] for r in answer if "promotionName" not in r]
        assert len(promoted) == 2
        assert {taste_of(i) for i in promoted} == {"C"}
        # The request filter (no C) holds for the other items only; each item is listed once.
        assert "C" not in {taste_of(i) for i in others}
        assert len(set(promoted + others)) == 10
        # Promoted items keep their own order (the promotion filter's ranking); the others keep theirs.
        assert promoted == [r["itemId"] for r in ids(filterArn=taste, filterValues={"TASTE": '"C"'})][:2]
        assert others == [r["itemId"] for r in ids(filterArn=not_c)][:8]


def test_a_promotion_with_too_few_matching_items_promotes_what_there_is(catalog):
    runtime = catalog.clients.runtime
    one = create_filter(catalog, 'INCLUDE ItemID WHERE Items.CUP_SIZE IN ("E")')  # D9 alone is also "E"
    answer = runtime.get_recommendations(
        campaignArn=catalog.campaigns[USER_PERSONALIZATION],
        userId="uA2",
        numResults=10,
        promotions=[{"name": "d9", "percentPromotedItems": 50, "filterArn": one}],
    )["itemList"]
    assert len(answer) == 10
    assert [r["itemId"] for r in answer if "promotionName" in r] == ["D9"]


def test_promotions_are_validated_like_the_service(catalog, s3_server):
    import boto3
    from botocore.config import Config

    from .conftest import CREDENTIALS

    campaign = catalog.campaigns[USER_PERSONALIZATION]
    runtime = catalog.clients.runtime
    missing = catalog.group_arn.replace(":dataset-group/", ":filter/") + "-nope"
    code, _ = error_of(
        runtime.get_recommendations,
        campaignArn=campaign,
        userId="uA2",
        promotions=[{"name": "x", "percentPromotedItems": 10, "filterArn": missing}],
    )
    assert code == "ResourceNotFoundException"
    # botocore checks the percentage's range itself; without its check the endpoint refuses it the same way.
    unchecked = boto3.client(
        "personalize-runtime",
        endpoint_url=catalog.clients.url,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
        **CREDENTIALS,
    )
    taste = create_filter(catalog, "INCLUDE ItemID WHERE Items.CUP_SIZE IN ($TASTE)")
    for bad, field in (({"percentPromotedItems": 0}, "percentPromotedItems"), ({"name": None}, "name")):
        promotion = {"name": "x", "percentPromotedItems": 10, "filterArn": taste, "filterValues": {"TASTE": '"C"'}}
        promotion.update(bad)
        promotion = {k: v for k, v in promotion.items() if v is not None}
        code, message = error_of(
            unchecked.get_recommendations, campaignArn=campaign, userId="uA2", promotions=[promotion]
        )
        assert code in ("InvalidInputException", "ValidationException")
        assert field in message


# ---- recipes -------------------------------------------------------------------------------------------------


def test_list_recipes_by_domain_and_the_recipe_types(catalog):
    p = catalog.clients.personalize
    ecommerce = p.list_recipes(domain="ECOMMERCE")["recipes"]
    names = {r["name"] for r in ecommerce}
    assert "aws-ecomm-customers-who-viewed-x-also-viewed" in names
    assert "aws-ecomm-recommended-for-you" in names
    assert {r["domain"] for r in ecommerce} == {"ECOMMERCE"}
    assert len(ecommerce) == 5
    vod = {r["name"] for r in p.list_recipes(domain="VIDEO_ON_DEMAND", recipeProvider="SERVICE")["recipes"]}
    assert "aws-vod-top-picks" in vod
    assert not vod & names
    everything = {r["recipeArn"] for r in p.list_recipes()["recipes"]}
    assert {SIMS, RANKING, USER_PERSONALIZATION} <= everything
    assert len(everything) > len(vod) + len(names)
    types = {
        arn: p.describe_recipe(recipeArn=arn)["recipe"]["recipeType"] for arn in (SIMS, RANKING, USER_PERSONALIZATION)
    }
    assert types == {
        SIMS: "RELATED_ITEMS",
        RANKING: "PERSONALIZED_RANKING",
        USER_PERSONALIZATION: "USER_PERSONALIZATION",
    }
    paged, token = [], None
    while True:
        page = p.list_recipes(maxResults=3, **({"nextToken": token} if token else {}))
        assert len(page["recipes"]) <= 3
        paged += [r["recipeArn"] for r in page["recipes"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(paged) == sorted(everything)
    assert len(paged) == len(everything)
    code, message = error_of(
        p.create_solution,
        name=unique("sol"),
        datasetGroupArn=catalog.group_arn,
        recipeArn="arn:aws:personalize:::recipe/aws-ecomm-recommended-for-you",
    )
    assert code == "InvalidInputException"
    assert "not supported locally" in message


def test_batch_inference_on_sims_or_ranking_versions_is_refused_as_not_supported_locally(catalog, s3_server):
    from .conftest import ROLE_ARN

    source = s3_server.put_csv(f"{unique('batch')}/input.json", '{"itemId": "A1"}\n')
    for recipe in (SIMS, RANKING):
        code, message = error_of(
            catalog.clients.personalize.create_batch_inference_job,
            jobName=unique("job"),
            solutionVersionArn=catalog.versions[recipe],
            jobInput={"s3DataSource": {"path": source}},
            jobOutput={"s3DataDestination": {"path": f"s3://{s3_server.bucket}/{unique('out')}/"}},
            roleArn=ROLE_ARN,
        )
        assert code == "InvalidInputException"
        assert "not supported locally" in message
