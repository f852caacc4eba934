"""A replay of the public Amazon Personalize sample notebooks, call for call, against the local endpoint.

The calls keep the notebooks' own shapes: schemas sent as ``json.dumps`` of a dict, ``datasetType="INTERACTIONS"``,
status polling on describe_*, ``minProvisionedTPS=1`` and an exploration weight on the campaign, genre filters on
``Items.GENRES``, watched/unwatched filters on ``Interactions.event_type`` in lower case, a decade filter, clicks
sent through PutEvents with the item in ``properties``, a promotion taking 20% of the list from a ``$GENRE``
filter (with and without a request filter), SIMS and Personalized-Ranking campaigns beside the
User-Personalization one, a batch inference job, and the clean-up notebook's deletions in its order.

Each step asserts what the answer means, not only that it came: the data is MovieLens-like but synthetic and
strongly structured (each viewer mostly watches one genre), so what a right answer looks like is known, and the
model must beat a popularity baseline on watches held out of the import.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import ROLE_ARN, Clients, S3Server, make_clients, wait_for

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi")
MOVIES_PER_GENRE = 30
VIEWERS = 150
WATCHES_PER_VIEWER = 20
HELD_OUT_PER_VIEWER = 3
FAVOURITE_SHARE = 0.9
START = 1_700_000_000
DATASET_TYPES = ("Interactions", "Items", "Users")
USER_PERSONALIZATION = "arn:aws:personalize:::recipe/aws-user-personalization"
SIMS = "arn:aws:personalize:::recipe/aws-sims"
RERANK = "arn:aws:personalize:::recipe/aws-personalized-ranking"
METRIC_NAMES = {
    "coverage",
    "mean_reciprocal_rank_at_25",
    *(f"{name}_at_{k}" for name in ("normalized_discounted_cumulative_gain", "precision") for k in (5, 10, 25)),
}

# The notebooks' schemas: MovieLens interactions with an event type, movies with GENRES and YEAR, viewers' ages.
INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
    ],
    "version": "1.0",
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "GENRES", "type": ["null", "string"], "categorical": True},
        {"name": "YEAR", "type": ["null", "int"]},
    ],
    "version": "1.0",
}
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "AGE", "type": ["null", "int"]},
    ],
    "version": "1.0",
}


# ---- the synthetic MovieLens ---------------------------------------------------------------------------------


@dataclass
class Movies:
    """Movies, viewers and watches: what was imported, and the watches held out of the import."""

    genres: dict[str, list[str]]  # movie -> its genres; the first is its main genre
    years: dict[str, int]
    favourite: dict[str, str]  # viewer -> the genre she mostly watches
    imported: list[tuple[str, str, str, int]]  # USER_ID, ITEM_ID, EVENT_TYPE, TIMESTAMP
    held_out: dict[str, set[str]]
    watched: dict[str, set[str]] = field(default_factory=dict)  # imported "watch" events per viewer

    def main_genre(self, movie: str) -> str:
        return self.genres[movie][0]

    def of_genre(self, genre: str) -> list[str]:
        return [movie for movie, genres in self.genres.items() if genres[0] == genre]

    def csv(self, kind: str) -> str:
        if kind == "Interactions":
            lines = ["USER_ID,ITEM_ID,EVENT_TYPE,TIMESTAMP"] + [",".join(map(str, row)) for row in self.imported]
        elif kind == "Items":
            lines = ["ITEM_ID,GENRES,YEAR"] + [
                f"{movie},{'|'.join(genres)},{self.years[movie]}" for movie, genres in self.genres.items()
            ]
        else:
            lines = ["USER_ID,AGE"] + [f"{viewer},{18 + int(viewer) % 50}" for viewer in self.favourite]
        return "\n".join(lines) + "\n"


def make_movies(seed: int = 11) -> Movies:
    """Each viewer watches 20 movies, 90% of her favourite genre, favouring its well-known titles; the last three
    of her watches (by time) are held out of the import. One movie in four has a second genre."""
    import numpy as np

    rng = np.random.default_rng(seed)
    genres: dict[str, list[str]] = {}
    years: dict[str, int] = {}
    for g, genre in enumerate(GENRES):
        for i in range(MOVIES_PER_GENRE):
            movie = str(1 + g * MOVIES_PER_GENRE + i)  # numeric ids, as MovieLens has
            second = GENRES[(g + 1 + i % 5) % len(GENRES)]
            genres[movie] = [genre, second] if i % 4 == 3 else [genre]
            years[movie] = int(rng.integers(1950, 2010))
    # Within a genre a few titles are watched far more than the rest, as in MovieLens.
    appeal = 1.0 / np.arange(1, MOVIES_PER_GENRE + 1) ** 0.7
    all_movies = list(genres)
    favourite, imported, held_out, watched = {}, [], {}, {}
    for v in range(VIEWERS):
        viewer = str(v + 1)
        genre = GENRES[v % len(GENRES)]
        favourite[viewer] = genre
        own = [m for m in all_movies if genres[m][0] == genre]
        n_own = int(rng.binomial(WATCHES_PER_VIEWER, FAVOURITE_SHARE))
        picks = list(rng.choice(own, n_own, replace=False, p=appeal / appeal.sum()))
        others = [m for m in all_movies if genres[m][0] != genre]
        picks += list(rng.choice(others, WATCHES_PER_VIEWER - n_own, replace=False))
        rng.shuffle(picks)
        rows = [
            (viewer, movie, "watch" if rng.random() < 0.8 else "click", START + 86_400 * v + 600 * n)
            for n, movie in enumerate(picks)
        ]
        imported += rows[:-HELD_OUT_PER_VIEWER]
        held_out[viewer] = {row[1] for row in rows[-HELD_OUT_PER_VIEWER:]}
        watched[viewer] = {row[1] for row in rows[:-HELD_OUT_PER_VIEWER] if row[2] == "watch"}
    imported.sort(key=lambda row: row[3])
    return Movies(genres, years, favourite, imported, held_out, watched)


# ---- notebook helpers ----------------------------------------------------------------------------------------


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]["Code"]


def wait_until_gone(describe: Any, timeout: float = 30.0) -> None:
    """Poll a describe call, as the clean-up notebooks wait between deletions, until it says ResourceNotFound."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            described = describe()
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ResourceNotFoundException":
                return
            raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"still there after {timeout}s: {described}")
        time.sleep(0.02)


def ids(response: dict[str, Any], key: str = "itemList") -> list[str]:
    return [entry["itemId"] for entry in response[key]]


@dataclass
class Notebook:
    """The ARNs the notebooks keep in ``%store`` between cells."""

    clients: Clients
    movies: Movies
    prefix: str = field(default_factory=lambda: f"movielens-{uuid.uuid4().hex[:8]}")  # names are per account
    dataset_group_arn: str = ""
    schema_arns: dict[str, str] = field(default_factory=dict)
    dataset_arns: dict[str, str] = field(default_factory=dict)
    solution_arns: dict[str, str] = field(default_factory=dict)
    solution_version_arns: dict[str, str] = field(default_factory=dict)
    campaign_arns: dict[str, str] = field(default_factory=dict)
    filter_arns: dict[str, str] = field(default_factory=dict)
    event_tracker_arn: str = ""
    tracking_id: str = ""

    def recommend(self, user_id: str, **kwargs: Any) -> list[str]:
        return ids(
            self.clients.runtime.get_recommendations(
                campaignArn=self.campaign_arns[USER_PERSONALIZATION], userId=user_id, **kwargs
            )
        )

    def viewer_of(self, genre: str) -> str:
        return next(viewer for viewer, favourite in self.movies.favourite.items() if favourite == genre)


# ---- the steps, in the notebooks' order ----------------------------------------------------------------------


def build_datasets(nb: Notebook, s3: S3Server) -> None:
    """1.Building_Your_First_Campaign / POC 01-02: upload, schemas, dataset group, datasets, import jobs."""
    p = nb.clients.personalize
    prefix = nb.prefix
    locations = {kind: s3.put_csv(f"{prefix}/{kind.lower()}.csv", nb.movies.csv(kind)) for kind in DATASET_TYPES}
    for kind, schema in zip(DATASET_TYPES, (INTERACTIONS_SCHEMA, ITEMS_SCHEMA, USERS_SCHEMA), strict=True):
        nb.schema_arns[kind] = p.create_schema(name=f"{prefix}-{kind.lower()}", schema=json.dumps(schema))["schemaArn"]
        assert json.loads(p.describe_schema(schemaArn=nb.schema_arns[kind])["schema"]["schema"]) == schema
    nb.dataset_group_arn = p.create_dataset_group(name=f"{prefix}-dsg")["datasetGroupArn"]
    group = wait_for(lambda: p.describe_dataset_group(datasetGroupArn=nb.dataset_group_arn)["datasetGroup"])
    assert group["status"] == "ACTIVE"
    for kind in DATASET_TYPES:
        nb.dataset_arns[kind] = p.create_dataset(
            name=f"{prefix}-{kind.lower()}",
            datasetType=kind.upper(),  # the notebooks write "INTERACTIONS"; the service takes any case
            datasetGroupArn=nb.dataset_group_arn,
            schemaArn=nb.schema_arns[kind],
        )["datasetArn"]
        dataset = wait_for(lambda kind=kind: p.describe_dataset(datasetArn=nb.dataset_arns[kind])["dataset"])
        assert (dataset["status"], dataset["datasetType"]) == ("ACTIVE", kind)
    jobs = {
        kind: p.create_dataset_import_job(
            jobName=f"{prefix}-import-{kind.lower()}",
            datasetArn=nb.dataset_arns[kind],
            dataSource={"dataLocation": locations[kind]},
            roleArn=ROLE_ARN,
        )["datasetImportJobArn"]
        for kind in DATASET_TYPES
    }
    for kind, job_arn in jobs.items():
        job = wait_for(lambda a=job_arn: p.describe_dataset_import_job(datasetImportJobArn=a)["datasetImportJob"])
        assert job["status"] == "ACTIVE", job.get("failureReason")
        assert job["importMode"] == "FULL"  # the default when the notebook names none
        listed = p.list_dataset_import_jobs(datasetArn=nb.dataset_arns[kind])["datasetImportJobs"]
        assert [(j["datasetImportJobArn"], j["status"]) for j in listed] == [(job_arn, "ACTIVE")]
    # The service reports no row counts for an import; what was imported is checked through filters below.


def train_solutions(nb: Notebook) -> None:
    """Select recipes from ListRecipes, create the three solutions and their versions, read their metrics."""
    p = nb.clients.personalize
    listed = {recipe["recipeArn"] for recipe in p.list_recipes()["recipes"]}
    assert {USER_PERSONALIZATION, SIMS, RERANK} <= listed
    for recipe in (USER_PERSONALIZATION, SIMS, RERANK):
        name = recipe.rsplit("/", 1)[1]
        nb.solution_arns[recipe] = p.create_solution(
            name=f"{nb.prefix}-{name}", datasetGroupArn=nb.dataset_group_arn, recipeArn=recipe
        )["solutionArn"]
        solution = wait_for(lambda r=recipe: p.describe_solution(solutionArn=nb.solution_arns[r])["solution"])
        assert solution["recipeArn"] == recipe
        nb.solution_version_arns[recipe] = p.create_solution_version(solutionArn=nb.solution_arns[recipe])[
            "solutionVersionArn"
        ]
    # A reader who runs the clean-up cells while the versions train is refused: the data is in use.
    training = p.describe_solution_version(solutionVersionArn=nb.solution_version_arns[RERANK])["solutionVersion"]
    assert training["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS")
    code = error_code(p.delete_dataset, datasetArn=nb.dataset_arns["Interactions"])
    assert code == "ResourceInUseException"
    code = error_code(p.delete_solution, solutionArn=nb.solution_arns[RERANK])
    assert code == "ResourceInUseException"
    for recipe, version_arn in nb.solution_version_arns.items():
        version = wait_for(
            lambda a=version_arn: p.describe_solution_version(solutionVersionArn=a)["solutionVersion"], timeout=60
        )
        assert version["status"] == "ACTIVE", version.get("failureReason")
        assert (version["recipeArn"], version["trainingMode"]) == (recipe, "FULL")
        metrics = p.get_solution_metrics(solutionVersionArn=version_arn)
        assert metrics["solutionVersionArn"] == version_arn
        assert set(metrics["metrics"]) == METRIC_NAMES, recipe
        assert all(0.0 <= value <= 1.0 for value in metrics["metrics"].values()), metrics["metrics"]
        assert metrics["metrics"]["coverage"] > 0
    # On data this structured the personalised model finds held-back watches in its top 25.
    up = p.get_solution_metrics(solutionVersionArn=nb.solution_version_arns[USER_PERSONALIZATION])["metrics"]
    assert up["precision_at_25"] > 0
    assert up["mean_reciprocal_rank_at_25"] > 0


def deploy_campaigns(nb: Notebook) -> None:
    """POC 04: one campaign per solution version, minProvisionedTPS=1, polled together until ACTIVE."""
    p = nb.clients.personalize
    for recipe, version_arn in nb.solution_version_arns.items():
        extra = {"campaignConfig": {"itemExplorationConfig": {"explorationWeight": "0.5"}}}
        nb.campaign_arns[recipe] = p.create_campaign(
            name=f"{nb.prefix}-{recipe.rsplit('/', 1)[1]}",
            solutionVersionArn=version_arn,
            minProvisionedTPS=1,
            **(extra if recipe == USER_PERSONALIZATION else {}),
        )["campaignArn"]
    for recipe, campaign_arn in nb.campaign_arns.items():
        campaign = wait_for(lambda a=campaign_arn: p.describe_campaign(campaignArn=a)["campaign"])
        assert campaign["status"] == "ACTIVE", campaign.get("failureReason")
        assert campaign["solutionVersionArn"] == nb.solution_version_arns[recipe]
        assert campaign["minProvisionedTPS"] == 1
    campaign = p.describe_campaign(campaignArn=nb.campaign_arns[USER_PERSONALIZATION])["campaign"]
    assert campaign["campaignConfig"]["itemExplorationConfig"]["explorationWeight"] == "0.5"


def first_recommendations(nb: Notebook) -> None:
    """GetRecommendations with the notebook's defaults: 25 distinct known movies, by score, mostly her genre."""
    runtime = nb.clients.runtime
    for genre in ("Drama", "Horror"):
        viewer = nb.viewer_of(genre)
        response = runtime.get_recommendations(campaignArn=nb.campaign_arns[USER_PERSONALIZATION], userId=viewer)
        assert response["recommendationId"]
        listed = ids(response)
        assert len(listed) == len(set(listed)) == 25
        assert set(listed) <= set(nb.movies.genres)
        scores = [entry["score"] for entry in response["itemList"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0 <= score <= 1 for score in scores)
        # Her first ten are (nearly all) of her genre; no movie is within exploration's 30-day age cut-off here.
        # Custom recipes do not leave out what she watched (the notebooks' "unwatched" filter is for that).
        assert sum(nb.movies.main_genre(m) == genre for m in listed[:10]) >= 8, listed


def beats_popularity(nb: Notebook) -> tuple[float, float]:
    """HitRate@25 on the held-out watches: the campaign's lists against the 25 most watched movies."""
    counts = Counter(movie for _, movie, _, _ in nb.movies.imported)
    popular = {movie for movie, _ in counts.most_common(25)}
    model_hits = popularity_hits = total = 0
    for viewer, held_out in nb.movies.held_out.items():
        listed = set(nb.recommend(viewer, numResults=25))
        model_hits += len(held_out & listed)
        popularity_hits += len(held_out & popular)
        total += len(held_out)
    model, popularity = model_hits / total, popularity_hits / total
    assert model >= 2 * popularity, (model, popularity)
    assert model - popularity >= 0.2, (model, popularity)
    return model, popularity


def create_filters(nb: Notebook) -> None:
    """POC 04's filters, in its own expressions: genres, watched/unwatched on event_type, a decade; plus the
    promotions notebook's dynamic filter."""
    p = nb.clients.personalize
    expressions = {
        **{genre: f'INCLUDE ItemID WHERE Items.GENRES IN ("{genre}")' for genre in ("Comedy", "Sci-Fi")},
        "watched": 'INCLUDE ItemID WHERE Interactions.event_type IN ("watch")',
        "unwatched": 'EXCLUDE ItemID WHERE Interactions.event_type IN ("watch")',
        "1970s": "INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980",
        "genre_filter": "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)",
    }
    for name, expression in expressions.items():
        nb.filter_arns[name] = p.create_filter(
            name=f"{nb.prefix}-{name}", datasetGroupArn=nb.dataset_group_arn, filterExpression=expression
        )["filterArn"]
    for name, arn in nb.filter_arns.items():
        described = wait_for(lambda a=arn: p.describe_filter(filterArn=a)["filter"])
        assert described["status"] == "ACTIVE", described.get("failureReason")
        assert described["filterExpression"] == expressions[name]


def filtered_recommendations(nb: Notebook) -> None:
    """Each filter keeps exactly what it says; the watched filter gives back the imported watches themselves."""
    viewer = nb.viewer_of("Drama")
    for genre in ("Comedy", "Sci-Fi"):
        listed = nb.recommend(viewer, filterArn=nb.filter_arns[genre])
        assert len(listed) == 25
        assert all(genre in nb.movies.genres[m] for m in listed), genre
    watched = nb.movies.watched[viewer]
    assert set(nb.recommend(viewer, numResults=100, filterArn=nb.filter_arns["watched"])) == watched
    unwatched = nb.recommend(viewer, numResults=100, filterArn=nb.filter_arns["unwatched"])
    assert len(unwatched) == 100
    assert not set(unwatched) & watched
    seventies = nb.recommend(viewer, numResults=100, filterArn=nb.filter_arns["1970s"])
    assert set(seventies) == {m for m, year in nb.movies.years.items() if 1970 <= year < 1980}
    by_value = nb.recommend(viewer, filterArn=nb.filter_arns["genre_filter"], filterValues={"GENRE": '"Comedy"'})
    assert by_value == nb.recommend(viewer, filterArn=nb.filter_arns["Comedy"])


def stream_events(nb: Notebook) -> None:
    """2.View_Campaign_And_Interactions: an event tracker, then clicks sent as the notebook sends them (the movie
    in ``properties``), which move her recommendations and reach the watched/unwatched filters at once."""
    p, events = nb.clients.personalize, nb.clients.events
    response = p.create_event_tracker(name=f"{nb.prefix}-MovieClickTracker", datasetGroupArn=nb.dataset_group_arn)
    nb.event_tracker_arn, nb.tracking_id = response["eventTrackerArn"], response["trackingId"]
    tracker = wait_for(lambda: p.describe_event_tracker(eventTrackerArn=nb.event_tracker_arn)["eventTracker"])
    assert (tracker["status"], tracker["trackingId"]) == ("ACTIVE", nb.tracking_id)
    sessions: dict[str, str] = {}

    def send_movie_click(user_id: str, item_id: str) -> None:
        session_id = sessions.setdefault(user_id, str(uuid.uuid1()))
        events.put_events(
            trackingId=nb.tracking_id,
            userId=user_id,
            sessionId=session_id,
            eventList=[
                {"sentAt": int(time.time()), "eventType": "watch", "properties": json.dumps({"itemId": item_id})}
            ],
        )

    # A drama viewer watches four horror films she had never seen, one click at a time.
    viewer = nb.viewer_of("Drama")
    unwatched_filter, watched_filter = nb.filter_arns["unwatched"], nb.filter_arns["watched"]
    history = {movie for user, movie, _, _ in nb.movies.imported if user == viewer}
    to_watch = [movie for movie in nb.movies.of_genre("Horror") if movie not in history][:4]
    assert set(to_watch) <= set(nb.recommend(viewer, numResults=500, filterArn=unwatched_filter))
    before = nb.recommend(viewer, numResults=500)
    for movie in to_watch:
        send_movie_click(viewer, movie)
    # At once: the unwatched filter drops them, the watched filter has them, and her list moves towards them.
    assert not set(to_watch) & set(nb.recommend(viewer, numResults=500, filterArn=unwatched_filter))
    assert set(nb.recommend(viewer, numResults=500, filterArn=watched_filter)) == nb.movies.watched[viewer] | set(
        to_watch
    )
    after = nb.recommend(viewer, numResults=500)
    assert after[:25] != before[:25]
    rank_before = sum(map(before.index, nb.movies.of_genre("Horror")))
    rank_after = sum(map(after.index, nb.movies.of_genre("Horror")))
    assert rank_after < rank_before, (rank_before, rank_after)

    # A newcomer known only by the horror films she just watched is served horror, from her events alone.
    newcomer = "newcomer-1"
    horror = nb.movies.of_genre("Horror")[:5]
    for movie in horror:
        send_movie_click(newcomer, movie)
    listed = nb.recommend(newcomer, numResults=10)
    assert sum(nb.movies.main_genre(m) == "Horror" for m in listed) >= 6, listed


def promotions(nb: Notebook) -> None:
    """The promotions notebook: 20% of a 20-item list promoted from the $GENRE filter, alone and under a request
    filter that applies to the other items only."""
    runtime = nb.clients.runtime
    viewer = nb.viewer_of("Romance")
    promotion = {
        "name": "comedy_promotion",
        "percentPromotedItems": 20,
        "filterArn": nb.filter_arns["genre_filter"],
        "filterValues": {"GENRE": '"Comedy"'},
    }
    for request_filter in ({}, {"filterArn": nb.filter_arns["genre_filter"], "filterValues": {"GENRE": '"Drama"'}}):
        items = runtime.get_recommendations(
            campaignArn=nb.campaign_arns[USER_PERSONALIZATION],
            userId=viewer,
            numResults=20,
            promotions=[promotion],
            **request_filter,
        )["itemList"]
        assert len(items) == len({entry["itemId"] for entry in items}) == 20
        promoted = [entry["itemId"] for entry in items if entry.get("promotionName") == "comedy_promotion"]
        others = [entry["itemId"] for entry in items if "promotionName" not in entry]
        assert len(promoted) == 4  # 20% of 20
        assert all("Comedy" in nb.movies.genres[m] for m in promoted)
        assert len(others) == 16
        if request_filter:
            assert all("Drama" in nb.movies.genres[m] for m in others)
        else:
            # Without a request filter the others are her usual list, led by romance.
            assert Counter(nb.movies.main_genre(m) for m in others).most_common(1)[0][0] == "Romance"


def related_items(nb: Notebook) -> None:
    """The SIMS campaign: movies watched by the viewers of a movie, of that movie's genre, never the movie itself."""
    runtime = nb.clients.runtime
    for genre in ("Action", "Romance"):
        movie = nb.movies.of_genre(genre)[0]
        listed = ids(runtime.get_recommendations(campaignArn=nb.campaign_arns[SIMS], itemId=movie))
        assert len(listed) == len(set(listed)) == 25
        assert movie not in listed
        assert sum(nb.movies.main_genre(m) == genre for m in listed[:10]) >= 8, listed


def rerank(nb: Notebook) -> None:
    """The Personalized-Ranking campaign: the same 25 movies come back, each viewer's genre first."""
    runtime = nb.clients.runtime
    input_list = [m for genre in GENRES[:5] for m in nb.movies.of_genre(genre)[5:10]]
    orders = {}
    for genre in ("Comedy", "Horror"):
        ranked = runtime.get_personalized_ranking(
            campaignArn=nb.campaign_arns[RERANK], userId=nb.viewer_of(genre), inputList=input_list
        )["personalizedRanking"]
        order = [entry["itemId"] for entry in ranked]
        assert sorted(order) == sorted(input_list)
        # Her genre's five films all rank in her first ten.
        assert sum(nb.movies.main_genre(m) == genre for m in order[:10]) == 5, order
        orders[genre] = order
    assert orders["Comedy"] != orders["Horror"]


def batch_recommendations(nb: Notebook, s3: S3Server) -> None:
    """The batch notebook: a JSON-lines file of users in S3, a batch inference job, one answer line per user."""
    p = nb.clients.personalize
    prefix = f"batch-{uuid.uuid4().hex[:8]}"
    viewers = [nb.viewer_of(genre) for genre in GENRES]
    source = s3.put_csv(f"{prefix}/json_input.json", "".join(json.dumps({"userId": v}) + "\n" for v in viewers))
    job_arn = p.create_batch_inference_job(
        jobName=f"{prefix}-job",
        solutionVersionArn=nb.solution_version_arns[USER_PERSONALIZATION],
        numResults=25,
        jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": f"s3://{s3.bucket}/{prefix}/out/"}},
        roleArn=ROLE_ARN,
    )["batchInferenceJobArn"]
    job = wait_for(lambda: p.describe_batch_inference_job(batchInferenceJobArn=job_arn)["batchInferenceJob"])
    assert job["status"] == "ACTIVE", job.get("failureReason")
    body = s3.client.get_object(Bucket=s3.bucket, Key=f"{prefix}/out/json_input.json.out")["Body"].read()
    answers = [json.loads(line) for line in body.decode("utf-8").splitlines()]
    assert [answer["input"] for answer in answers] == [{"userId": v} for v in viewers]
    for genre, answer in zip(GENRES, answers, strict=True):
        assert answer["error"] is None
        listed = answer["output"]["recommendedItems"]
        assert len(set(listed)) == 25
        assert sum(nb.movies.main_genre(m) == genre for m in listed[:10]) >= 8, listed


def clean_up(nb: Notebook) -> None:
    """The clean-up notebook: out-of-order deletions are refused, then campaigns, event tracker, filters,
    solutions, datasets, schemas and the dataset group go in its order, each gone once deleted."""
    p, runtime = nb.clients.personalize, nb.clients.runtime
    # Out of order, as a reader skipping cells would: the service answers ResourceInUse and deletes nothing.
    assert error_code(p.delete_dataset_group, datasetGroupArn=nb.dataset_group_arn) == "ResourceInUseException"
    assert error_code(p.delete_schema, schemaArn=nb.schema_arns["Items"]) == "ResourceInUseException"
    assert error_code(p.delete_solution, solutionArn=nb.solution_arns[USER_PERSONALIZATION]) == "ResourceInUseException"
    assert p.describe_solution(solutionArn=nb.solution_arns[USER_PERSONALIZATION])["solution"]["status"] == "ACTIVE"

    for campaign_arn in nb.campaign_arns.values():
        p.delete_campaign(campaignArn=campaign_arn)
    for campaign_arn in nb.campaign_arns.values():
        wait_until_gone(lambda a=campaign_arn: p.describe_campaign(campaignArn=a))
    code = error_code(
        runtime.get_recommendations, campaignArn=nb.campaign_arns[USER_PERSONALIZATION], userId=nb.viewer_of("Drama")
    )
    assert code == "ResourceNotFoundException"

    p.delete_event_tracker(eventTrackerArn=nb.event_tracker_arn)
    wait_until_gone(lambda: p.describe_event_tracker(eventTrackerArn=nb.event_tracker_arn))

    for filter_arn in nb.filter_arns.values():
        p.delete_filter(filterArn=filter_arn)
    for filter_arn in nb.filter_arns.values():
        wait_until_gone(lambda a=filter_arn: p.describe_filter(filterArn=a))

    for solution_arn in nb.solution_arns.values():
        p.delete_solution(solutionArn=solution_arn)
    for solution_arn in nb.solution_arns.values():
        wait_until_gone(lambda a=solution_arn: p.describe_solution(solutionArn=a))
    for version_arn in nb.solution_version_arns.values():
        wait_until_gone(lambda a=version_arn: p.describe_solution_version(solutionVersionArn=a))

    for dataset_arn in nb.dataset_arns.values():
        p.delete_dataset(datasetArn=dataset_arn)
    for dataset_arn in nb.dataset_arns.values():
        wait_until_gone(lambda a=dataset_arn: p.describe_dataset(datasetArn=a))

    for schema_arn in nb.schema_arns.values():
        p.delete_schema(schemaArn=schema_arn)
        wait_until_gone(lambda a=schema_arn: p.describe_schema(schemaArn=a))

    p.delete_dataset_group(datasetGroupArn=nb.dataset_group_arn)
    wait_until_gone(lambda: p.describe_dataset_group(datasetGroupArn=nb.dataset_group_arn))
    listed = p.list_dataset_groups()["datasetGroups"]
    assert nb.dataset_group_arn not in {group["datasetGroupArn"] for group in listed}


def test_the_sample_notebooks_replayed_on_synthetic_movielens(start_endpoint, s3_server, tmp_path):
    endpoint = start_endpoint(tmp_path / "endpoint")
    nb = Notebook(make_clients(endpoint.url), make_movies())
    build_datasets(nb, s3_server)
    train_solutions(nb)
    deploy_campaigns(nb)
    first_recommendations(nb)
    beats_popularity(nb)
    create_filters(nb)
    filtered_recommendations(nb)
    stream_events(nb)
    promotions(nb)
    related_items(nb)
    rerank(nb)
    batch_recommendations(nb, s3_server)
    clean_up(nb)
