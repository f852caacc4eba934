"""`make demo`'s popularity baseline: trained through the API on the same group, scored on the same members."""

from __future__ import annotations

from typing import Any

from personalize_local.kinds import SOLUTION_VERSION
from pulla_dev import demo
from tests.integration.local_endpoint.conftest import Shop


class ShopServices:
    """The demo reaches its clients through ``services.client(name)``, as LocalServices offers them."""

    def __init__(self, shop: Shop) -> None:
        self.clients = {"personalize": shop.clients.personalize, "personalize-runtime": shop.clients.runtime}

    def client(self, name: str) -> Any:
        return self.clients[name]


def test_the_baseline_is_popularity_on_the_same_data_and_the_same_held_out_members(shop: Shop) -> None:
    resources = {"dataset_group_arn": shop.group.arn, "solution_arn": shop.solution_arn}

    baseline = demo.train_popularity_baseline(ShopServices(shop), resources)

    model = shop.clients.personalize.get_solution_metrics(solutionVersionArn=shop.version["solutionVersionArn"])
    assert set(baseline) == set(model["metrics"])
    # When the endpoint trained the model version it also scored popularity on that version's held-out members:
    # the demo's separately trained baseline must give exactly those figures.
    version = shop.endpoint.service.store.get(SOLUTION_VERSION, shop.version["solutionVersionArn"])
    assert baseline == version["_baselineMetrics"]
    ndcg = "normalized_discounted_cumulative_gain_at_25"
    assert model["metrics"][ndcg] > baseline[ndcg]
