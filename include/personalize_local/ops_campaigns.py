"""Control-plane operations on campaigns: create, describe, list, update (``latestCampaignUpdate``), delete.

A campaign serves one ACTIVE solution version (``<solutionArn>/$LATEST`` picks the newest). UpdateCampaign moves
it to another version or config only when the update reaches ACTIVE, so it keeps serving the old one until then;
campaigns with ``syncWithLatestSolutionVersion`` follow each new ACTIVE version of their solution. Whenever the
version a campaign serves changes, serving is told so it loads the model before the first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from personalize_local import errors
from personalize_local.kinds import ACTIVE, CAMPAIGN, CREATE_FAILED, DELETING, IN_FLIGHT, SOLUTION, SOLUTION_VERSION
from personalize_local.lifecycle import UpdateFailed
from personalize_local.resources import Handlers, required, resource_name

if TYPE_CHECKING:
    from personalize_local.serving import Serving


class CampaignOps(Handlers):
    def __init__(self, *args: Any, serving: Serving) -> None:
        super().__init__(*args)
        self.serving = serving
        self.lifecycle.when_active(CAMPAIGN, serving.campaign_changed)
        self.lifecycle.when_active(SOLUTION_VERSION, self._follow_new_version)
        self.lifecycle.set_update(
            CAMPAIGN, self._apply_update, prepare=lambda _, u: serving.prepare(u["solutionVersionArn"])
        )
        self.lifecycle.when_updated(CAMPAIGN, serving.campaign_changed)

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = resource_name(params)
        version = self._resolve_version(required(params, "solutionVersionArn"))
        tps = int(params.get("minProvisionedTPS") or 1)
        if tps < 1:
            raise errors.InvalidInputError("minProvisionedTPS must be at least 1")
        arn = self.new_arn(CAMPAIGN, name)
        record = {
            "name": name,
            "campaignArn": arn,
            "solutionVersionArn": version["solutionVersionArn"],
            "minProvisionedTPS": tps,
            "campaignConfig": self._campaign_config(params.get("campaignConfig")),
            "_solutionArn": version["solutionArn"],
        }
        self.create_resource(CAMPAIGN, arn, record)
        return {"campaignArn": arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(CAMPAIGN, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(CAMPAIGN, params)

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        campaign = self.get(CAMPAIGN, required(params, "campaignArn"))
        if campaign["status"] not in (ACTIVE, CREATE_FAILED):
            raise errors.ResourceInUseError(
                f"Campaign {campaign['campaignArn']} is {campaign['status']}; wait until ACTIVE."
            )
        if self.lifecycle.update_in_flight(CAMPAIGN, campaign):
            raise errors.ResourceInUseError(f"Campaign {campaign['campaignArn']} already has an update in progress.")
        version_arn = params.get("solutionVersionArn") or campaign["solutionVersionArn"]
        version = self._resolve_version(version_arn)
        config = (
            self._campaign_config(params["campaignConfig"])
            if "campaignConfig" in params
            else campaign["campaignConfig"]
        )
        changes = {
            "solutionVersionArn": version["solutionVersionArn"],
            "minProvisionedTPS": int(params.get("minProvisionedTPS") or campaign["minProvisionedTPS"]),
            "campaignConfig": config,
        }
        self.lifecycle.start_update(CAMPAIGN, campaign["campaignArn"], changes)
        return {"campaignArn": campaign["campaignArn"]}

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "campaignArn")
        campaign = self.get(CAMPAIGN, arn)
        if campaign["status"] in IN_FLIGHT + DELETING:
            raise errors.ResourceInUseError(f"Campaign {arn} is {campaign['status']}.")
        self.lifecycle.start_delete(CAMPAIGN, arn)
        return {}

    # ---- versions and configs ---------------------------------------------------------------------------------

    def _resolve_version(self, version_arn: str) -> dict[str, Any]:
        if version_arn.endswith("/$LATEST"):
            solution = self.get(SOLUTION, version_arn.removesuffix("/$LATEST"))
            active = [
                v
                for v in self.store.all(SOLUTION_VERSION)
                if v["solutionArn"] == solution["solutionArn"] and v["status"] == ACTIVE
            ]
            latest = max(active, key=lambda v: v["creationDateTime"], default=None)
            if latest is None:
                raise errors.ResourceInUseError(f"Solution {solution['solutionArn']} has no ACTIVE solution version.")
            return latest
        version = self.get(SOLUTION_VERSION, version_arn)
        if version["status"] != ACTIVE:
            raise errors.ResourceInUseError(f"Solution version {version_arn} is {version['status']}, not ACTIVE.")
        return version

    @staticmethod
    def _campaign_config(config: dict[str, Any] | None) -> dict[str, Any]:
        from personalize_local.recommender import ExplorationConfig

        config = dict(config or {})
        try:
            ExplorationConfig.from_campaign_config(config)
        except ValueError as exc:
            raise errors.InvalidInputError(f"campaignConfig.itemExplorationConfig: {exc}") from exc
        return config

    def _apply_update(self, campaign: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        """The campaign serves the update's version only if that version is still ACTIVE."""
        version = self.store.get(SOLUTION_VERSION, update["solutionVersionArn"])
        if version is None or version["status"] != ACTIVE:
            raise UpdateFailed("The solution version is no longer ACTIVE.")
        return {
            "status": ACTIVE,
            "failureReason": None,
            "solutionVersionArn": update["solutionVersionArn"],
            "minProvisionedTPS": update["minProvisionedTPS"],
            "campaignConfig": update["campaignConfig"],
            "_solutionArn": version["solutionArn"],
        }

    def _follow_new_version(self, version_arn: str) -> None:
        """Campaigns with syncWithLatestSolutionVersion follow a solution's new ACTIVE versions."""
        version = self.store.get(SOLUTION_VERSION, version_arn)
        if version is None:
            return
        prepared = False
        for campaign in self.store.all(CAMPAIGN):
            config = campaign.get("campaignConfig") or {}
            if config.get("syncWithLatestSolutionVersion") and campaign.get("_solutionArn") == version["solutionArn"]:
                if not prepared:  # loaded before the campaign switches to it, so its requests never wait for it
                    self.serving.prepare(version_arn)
                    prepared = True
                self.store.update(CAMPAIGN, campaign["campaignArn"], solutionVersionArn=version_arn)
                self.serving.campaign_changed(campaign["campaignArn"])
