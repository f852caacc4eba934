"""Control-plane operations on solutions, solution versions and recipes, and the training work.

CreateSolutionVersion leaves the version CREATE PENDING; at CREATE IN_PROGRESS the status engine runs
:meth:`SolutionOps.run_training` on the training pool, which hands the training to a process of its own
(:mod:`~personalize_local.training_job`): FULL trains on the group's bulk and streamed interactions, UPDATE keeps the
latest ACTIVE FULL version's factors. The model is written atomically at the end, so a restart re-runs training
from the start; a training process that dies fails the version with a reason.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from personalize_local import errors
from personalize_local.kinds import (
    ACTIVE,
    BATCH_INFERENCE_JOB,
    BATCH_SEGMENT_JOB,
    CAMPAIGN,
    DATASET_GROUP,
    IN_FLIGHT,
    KINDS,
    SOLUTION,
    SOLUTION_VERSION,
)
from personalize_local.lifecycle import WorkFailed
from personalize_local.recipes import DOMAIN_RECIPES, RECIPES, recipe_type, training_config
from personalize_local.resources import Handlers, public, required, resource_name
from personalize_local.state import resource_key


class SolutionOps(Handlers):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lifecycle.set_work(SOLUTION_VERSION, self.run_training)

    # ---- solutions --------------------------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = resource_name(params)
        group = self.get(DATASET_GROUP, required(params, "datasetGroupArn"))
        recipe = params.get("recipeArn")
        if params.get("performAutoML") or params.get("performHPO"):
            raise errors.InvalidInputError("performAutoML and performHPO are not supported by the local endpoint")
        if recipe in DOMAIN_RECIPES:
            raise errors.InvalidInputError(
                f"recipeArn {recipe!r} is a {DOMAIN_RECIPES[recipe].domain} use case, for recommenders of domain "
                f"dataset groups, which are not supported locally; use one of {sorted(RECIPES)}"
            )
        if recipe not in RECIPES:
            raise errors.InvalidInputError(
                f"recipeArn {recipe!r} is not supported locally; use one of {sorted(RECIPES)}"
            )
        if group["status"] != ACTIVE:
            raise errors.ResourceInUseError(
                f"Dataset group {group['datasetGroupArn']} is {group['status']}, not ACTIVE."
            )
        config = params.get("solutionConfig") or {}
        threshold = config.get("eventValueThreshold")
        if threshold is not None:
            try:
                float(threshold)
            except ValueError:
                raise errors.InvalidInputError(f"eventValueThreshold {threshold!r} is not a number") from None
        arn = self.new_arn(SOLUTION, name)
        record = {
            "name": name,
            "solutionArn": arn,
            "performHPO": False,
            "performAutoML": False,
            "performAutoTraining": False,  # never trains on its own locally (support.py refuses true)
            "recipeArn": recipe,
            "datasetGroupArn": group["datasetGroupArn"],
            "eventType": params.get("eventType"),
            "solutionConfig": config,
        }
        self.create_resource(SOLUTION, arn, record)
        return {"solutionArn": arn}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self.get(SOLUTION, required(params, "solutionArn"))
        solution = public(record)
        latest = self._latest_version(record["solutionArn"])
        if latest is not None:
            solution["latestSolutionVersion"] = public(latest, KINDS[SOLUTION_VERSION].summary_fields)
        return {"solution": solution}

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(SOLUTION, params)

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "solutionArn")
        self.get(SOLUTION, arn)
        versions = {v["solutionVersionArn"] for v in self.store.all(SOLUTION_VERSION) if v["solutionArn"] == arn}
        if any(c.get("solutionVersionArn") in versions for c in self.store.all(CAMPAIGN)):
            raise errors.ResourceInUseError(f"Solution {arn} has a campaign; delete the campaign first.")
        if any(v["status"] in IN_FLIGHT for v in self.store.all(SOLUTION_VERSION) if v["solutionArn"] == arn):
            raise errors.ResourceInUseError(f"Solution {arn} has a solution version in training.")
        if any(
            job["solutionVersionArn"] in versions and job["status"] in IN_FLIGHT
            for kind in (BATCH_INFERENCE_JOB, BATCH_SEGMENT_JOB)
            for job in self.store.all(kind)
        ):
            raise errors.ResourceInUseError(f"Solution {arn} has a batch job running on one of its versions.")

        def cleanup() -> None:
            for version in versions:
                self.store.model_path(version).unlink(missing_ok=True)
                self.store.remove(SOLUTION_VERSION, version)

        self.lifecycle.start_delete(SOLUTION, arn, cleanup)
        return {}

    # ---- solution versions ----------------------------------------------------------------------------------

    def _latest_version(self, solution_arn: str, *, active_full: bool = False) -> dict[str, Any] | None:
        versions = [v for v in self.store.all(SOLUTION_VERSION) if v["solutionArn"] == solution_arn]
        if active_full:
            versions = [v for v in versions if v["status"] == ACTIVE and v.get("trainingMode") == "FULL"]
        return max(versions, key=lambda v: v["creationDateTime"], default=None)

    def create_version(self, params: dict[str, Any]) -> dict[str, Any]:
        solution = self.get(SOLUTION, required(params, "solutionArn"))
        mode = params.get("trainingMode") or "FULL"
        if mode not in ("FULL", "UPDATE"):
            raise errors.InvalidInputError(f"trainingMode {mode!r} is not supported locally (FULL or UPDATE)")
        name = params.get("name")
        if name is not None:
            name = resource_name(params)
        if solution["status"] != ACTIVE:
            raise errors.ResourceInUseError(f"Solution {solution['solutionArn']} is {solution['status']}, not ACTIVE.")
        with self.store.lock:
            if any(
                v["status"] in IN_FLIGHT
                for v in self.store.all(SOLUTION_VERSION)
                if v["solutionArn"] == solution["solutionArn"]
            ):
                raise errors.ResourceInUseError(
                    f"Solution {solution['solutionArn']} already has a version in training."
                )
            if mode == "UPDATE" and (
                not RECIPES[solution["recipeArn"]].update_training
                or self._latest_version(solution["solutionArn"], active_full=True) is None
            ):
                raise errors.InvalidInputError(
                    "trainingMode UPDATE needs an ACTIVE solution version trained with FULL on User-Personalization."
                )
            arn = f"{solution['solutionArn']}/{uuid.uuid4().hex[:8]}"  # versions hang under their solution
            record = {
                "name": name,
                "solutionVersionArn": arn,
                "solutionArn": solution["solutionArn"],
                "performHPO": False,
                "performAutoML": False,
                "recipeArn": solution["recipeArn"],
                "eventType": solution.get("eventType"),
                "datasetGroupArn": solution["datasetGroupArn"],
                "solutionConfig": solution.get("solutionConfig") or {},
                "trainingMode": mode,
                "trainingType": "MANUAL",
            }
            self.create_resource(SOLUTION_VERSION, arn, record)
        return {"solutionVersionArn": arn}

    def describe_version(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(SOLUTION_VERSION, params)

    def list_versions(self, params: dict[str, Any]) -> dict[str, Any]:
        solution = params.get("solutionArn")
        if solution:
            self.get(SOLUTION, solution)
        return self.list_resources(SOLUTION_VERSION, params)

    def get_metrics(self, params: dict[str, Any]) -> dict[str, Any]:
        version = self.get(SOLUTION_VERSION, required(params, "solutionVersionArn"))
        if version["status"] != ACTIVE:
            raise errors.ResourceInUseError(
                f"Solution version {version['solutionVersionArn']} is {version['status']}, not ACTIVE."
            )
        return {"solutionVersionArn": version["solutionVersionArn"], "metrics": version.get("_metrics", {})}

    # ---- recipes --------------------------------------------------------------------------------------------

    def list_recipes(self, params: dict[str, Any]) -> dict[str, Any]:
        """The custom recipes trained here and the domain recipes; ``domain`` keeps that domain's use cases only.

        ``recipeProvider`` has one value (SERVICE), which every recipe here has; the model's enum check refuses
        any other before this runs.
        """
        domain = params.get("domain")
        listed: list[dict[str, Any]] = []
        if domain is None:
            listed += [_recipe_summary(arn) for arn in sorted(RECIPES)]
        listed += [
            {**_recipe_summary(arn), "domain": recipe.domain}
            for arn, recipe in sorted(DOMAIN_RECIPES.items())
            if domain is None or recipe.domain == domain
        ]
        page, token = self._paginate(
            listed, params, ("name", "recipeArn", "status", "creationDateTime", "lastUpdatedDateTime", "domain")
        )
        return {"recipes": page, "nextToken": token}

    def describe_recipe(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "recipeArn")
        if arn not in RECIPES and arn not in DOMAIN_RECIPES:
            raise errors.ResourceNotFoundError(f"Resource {arn} does not exist.")
        name = arn.rsplit("/", 1)[1]
        served = (
            f"{name}, trained locally ({RECIPES[arn].algorithm})"
            if arn in RECIPES
            else f"{name}, a {DOMAIN_RECIPES[arn].domain} use case (recommenders are not supported locally)"
        )
        return {
            "recipe": {
                "name": name,
                "recipeArn": arn,
                "status": ACTIVE,
                "recipeType": recipe_type(arn),
                "description": served,
            }
        }

    # ---- the training work ----------------------------------------------------------------------------------

    def run_training(self, version_arn: str) -> None:
        """Train in a process of its own (training_job.run), so serving never waits for the training's GIL."""
        from personalize_local import training_job

        started = time.monotonic()
        version = self.get(SOLUTION_VERSION, version_arn)
        solution = self.get(SOLUTION, version["solutionArn"])
        group_arn = solution["datasetGroupArn"]
        job = training_job.TrainingJob(
            version_arn=version_arn,
            group_arn=group_arn,
            mode=version["trainingMode"],
            config=training_config(solution, self.settings.train_threads),
            model_path=self.store.model_path(version_arn),
            pause=self.lifecycle.faults.slow_process.get(SOLUTION_VERSION, 0.0),
        )
        events_copy = items_copy = None
        if job.mode == "UPDATE":
            base = self._latest_version(solution["solutionArn"], active_full=True)
            if base is None:
                raise WorkFailed("No ACTIVE FULL solution version to update.")
            job = replace(job, base_model_path=self.store.model_path(base["solutionVersionArn"]))
        else:
            interactions = self.dataset_of(group_arn, "Interactions")
            items = self.dataset_of(group_arn, "Items")
            paths = {}
            if interactions is not None:
                paths["interactions_path"] = self._existing(self.store.bulk_path(interactions["datasetArn"]))
                # A copy, so events streamed while it trains never reach it half-written.
                events_copy = self.store.training_dir() / f"{resource_key(version_arn)}.events.csv"
                if self.store.copy_events(interactions["datasetArn"], events_copy):
                    paths["events_path"] = events_copy
            if items is not None:
                paths["items_path"] = self._existing(self.store.bulk_path(items["datasetArn"]))
                if self.store.has_records(items["datasetArn"]):
                    # Items sent by PutItems belong to the catalogue too: the training reads them with the bulk.
                    current = self.store.read_current(items["datasetArn"], "ITEM_ID")
                    items_copy = self.store.training_dir() / f"{resource_key(version_arn)}.items.csv"
                    current.to_csv(items_copy, index=False, lineterminator="\n")
                    paths["items_path"] = items_copy
            job = replace(job, **paths)
        try:
            results = self.lifecycle.processes.run(
                f"personalize-training-{resource_key(version_arn)}", "training", training_job.run, job
            )
        finally:
            for copy in (events_copy, items_copy):
                if copy is not None:
                    copy.unlink(missing_ok=True)
        self.store.update(
            SOLUTION_VERSION, version_arn, **results, trainingHours=round((time.monotonic() - started) / 3600, 6)
        )

    @staticmethod
    def _existing(path: Path) -> Path | None:
        return path if path.exists() else None


def _recipe_summary(arn: str) -> dict[str, Any]:
    return {
        "name": arn.rsplit("/", 1)[1],
        "recipeArn": arn,
        "status": ACTIVE,
        "creationDateTime": 0,
        "lastUpdatedDateTime": 0,
    }
