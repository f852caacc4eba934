"""Control-plane operations on batch inference and batch segment jobs, and the batch work itself.

CreateBatchInferenceJob and CreateBatchSegmentJob check the request (name, an ACTIVE solution version of the right
recipe type, input and output paths, role, filter, numResults) and leave the job CREATE PENDING; at CREATE
IN_PROGRESS the status engine runs the work on the batch pool. It reads the input (one object, or every file under a
folder; see :mod:`~personalize_local.batch` for the JSON-lines format), answers each line and writes
``<input file name>.out`` under the output path, then the job is ACTIVE. A line it cannot use carries its error on
its output line and the job still completes; a job-level failure (input not found or unreadable, output not
writable, solution version gone, more items than a segment job takes) ends CREATE FAILED with the reason.

- Batch inference runs on a USER_PERSONALIZATION (or Popularity-Count) version exactly as GetRecommendations would
  (:meth:`Serving.recommender <personalize_local.serving.Serving.recommender>`: the same index, filter with each
  line's ``filterValues``, exploration from ``batchInferenceJobConfig.itemExplorationConfig`` and event weights).
- Batch segments run on an Item-Affinity (USER_SEGMENTATION) version: per item, the users whose factor vectors
  score highest for it (:class:`~personalize_local.recommender.UserSegmenter`).

The output files are written only once every line is answered, so a job resumed after a restart simply runs again.
How many lines a job read and how many carried an error is kept on the job (``_numLines``, ``_numLineErrors``; the
API has no member for it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from personalize_local import errors
from personalize_local.kinds import (
    ACTIVE,
    BATCH_INFERENCE_JOB,
    BATCH_SEGMENT_JOB,
    DATASET_GROUP,
    KINDS,
    SOLUTION_VERSION,
)
from personalize_local.lifecycle import WorkFailed
from personalize_local.recipes import (
    PERSONALIZED_RANKING,
    RECIPES,
    RELATED_ITEMS,
    USER_PERSONALIZATION,
    USER_SEGMENTATION,
)
from personalize_local.resources import DATA_LOCATION_PATTERN, Handlers, required, resource_name, role_arn

if TYPE_CHECKING:
    from personalize_local.batch import BatchLine
    from personalize_local.s3_data import S3Reader
    from personalize_local.serving import Serving

BATCH_INFERENCE = "BATCH_INFERENCE"


def _s3_config(params: dict[str, Any], member: str, inner: str) -> dict[str, Any]:
    """jobInput.s3DataSource / jobOutput.s3DataDestination, checked against the API model's pattern and length."""
    config = (required(params, member) or {}).get(inner) or {}
    path = config.get("path") or ""
    if len(path) > 256 or not DATA_LOCATION_PATTERN.fullmatch(path):
        raise errors.InvalidInputError(f"{member}.{inner}.path {path!r} must look like s3://bucket/key")
    return {k: v for k, v in config.items() if k in ("path", "kmsKeyArn") and v is not None}


def _num_results(params: dict[str, Any], default: int, most: int) -> int:
    value = params.get("numResults")
    if value is None:
        return default
    if not isinstance(value, int) or not 1 <= value <= most:
        raise errors.InvalidInputError(f"numResults must be between 1 and {most:,}")
    return value


class BatchJobOps(Handlers):
    def __init__(self, *args: Any, serving: Serving, s3: S3Reader) -> None:
        super().__init__(*args)
        self.serving = serving
        self.s3 = s3
        self.lifecycle.set_work(BATCH_INFERENCE_JOB, self.run_inference)
        self.lifecycle.set_work(BATCH_SEGMENT_JOB, self.run_segments)

    # ---- what both kinds of job take --------------------------------------------------------------------------

    def _job_record(self, kind: str, params: dict[str, Any], recipe_type: str) -> dict[str, Any]:
        name = resource_name(params, "jobName")
        version = self.get(SOLUTION_VERSION, required(params, "solutionVersionArn"))
        source = _s3_config(params, "jobInput", "s3DataSource")
        destination = _s3_config(params, "jobOutput", "s3DataDestination")
        required(params, "roleArn")
        role = role_arn(params)
        if version["status"] != ACTIVE:
            raise errors.ResourceInUseError(
                f"Solution version {version['solutionVersionArn']} is {version['status']}, not ACTIVE."
            )
        recipe = RECIPES.get(version["recipeArn"])
        if (
            kind == BATCH_INFERENCE_JOB
            and recipe is not None
            and recipe.recipe_type in (RELATED_ITEMS, PERSONALIZED_RANKING)
        ):
            # The service runs batch inference on these too (itemId lines, userId + itemList lines); not here yet.
            raise errors.InvalidInputError(
                f"Batch inference on a {recipe.recipe_type} solution version ({version['recipeArn']}) is not "
                "supported locally; use GetRecommendations with itemId or GetPersonalizedRanking"
            )
        if recipe is None or recipe.recipe_type != recipe_type:
            job = "batch inference" if kind == BATCH_INFERENCE_JOB else "batch segment"
            raise errors.InvalidInputError(
                f"A {job} job needs a solution version trained with a {recipe_type} recipe; "
                f"{version['solutionVersionArn']} uses {version['recipeArn']}."
            )
        arn = self.new_arn(kind, name)
        return {
            "jobName": name,
            KINDS[kind].arn_key: arn,
            "solutionVersionArn": version["solutionVersionArn"],
            "jobInput": {"s3DataSource": source},
            "jobOutput": {"s3DataDestination": destination},
            "roleArn": role,
        }

    def _check_filter(self, params: dict[str, Any], version_arn: str) -> str | None:
        """The filterArn, which must be an ACTIVE filter of the version's dataset group (as GetRecommendations')."""
        filter_arn = params.get("filterArn")
        if filter_arn:
            group = self.get(DATASET_GROUP, self.get(SOLUTION_VERSION, version_arn)["datasetGroupArn"])
            self.serving.parsed_filter(filter_arn, group, against="the solution version")
        return filter_arn or None

    # ---- batch inference jobs ---------------------------------------------------------------------------------

    def create_inference(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.batch import INFERENCE_DEFAULT_NUM_RESULTS, INFERENCE_MAX_NUM_RESULTS
        from personalize_local.recommender import ExplorationConfig

        record = self._job_record(BATCH_INFERENCE_JOB, params, USER_PERSONALIZATION)
        mode = BATCH_INFERENCE  # other modes, like rankingInfluence, are refused before this runs (support.py)
        config = params.get("batchInferenceJobConfig")
        if config is not None:
            try:
                ExplorationConfig.from_campaign_config(config)
            except ValueError as exc:
                raise errors.InvalidInputError(f"batchInferenceJobConfig.itemExplorationConfig: {exc}") from exc
        record.update(
            filterArn=self._check_filter(params, record["solutionVersionArn"]),
            numResults=_num_results(params, INFERENCE_DEFAULT_NUM_RESULTS, INFERENCE_MAX_NUM_RESULTS),
            batchInferenceJobConfig=config,
            batchInferenceJobMode=mode,
        )
        arn = record["batchInferenceJobArn"]
        self.create_resource(BATCH_INFERENCE_JOB, arn, record)
        return {"batchInferenceJobArn": arn}

    def describe_inference(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(BATCH_INFERENCE_JOB, params)

    def list_inference(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(BATCH_INFERENCE_JOB, params)

    def run_inference(self, job_arn: str) -> dict[str, Any]:
        """Recommendations for every line of the input; the members the job shows when ACTIVE."""
        from personalize_local.batch import USER_ID, inference_output
        from personalize_local.filters import FilterSyntaxError, FilterValueError
        from personalize_local.recommender import ExplorationConfig

        job = self.get(BATCH_INFERENCE_JOB, job_arn)
        version, group = self._version_of(job)
        try:
            recommend = self.serving.recommender(
                version,
                group,
                filter_arn=job.get("filterArn"),
                exploration=ExplorationConfig.from_campaign_config(job.get("batchInferenceJobConfig")),
                against="the solution version",
            )
        except errors.ServiceError as exc:
            raise WorkFailed(exc.message) from exc

        def answer(line: BatchLine) -> tuple[str, bool]:
            try:
                items = recommend(line.key, job["numResults"], line.filter_values)
            except (FilterValueError, FilterSyntaxError) as exc:
                return inference_output(line.input, None, f"line {line.number}: {exc}"), False
            return inference_output(line.input, items, None), True

        return self._run(job, USER_ID, answer, inference_output)

    # ---- batch segment jobs -----------------------------------------------------------------------------------

    def create_segment(self, params: dict[str, Any]) -> dict[str, Any]:
        from personalize_local.batch import SEGMENT_DEFAULT_NUM_RESULTS, SEGMENT_MAX_NUM_RESULTS

        record = self._job_record(BATCH_SEGMENT_JOB, params, USER_SEGMENTATION)
        record["numResults"] = _num_results(params, SEGMENT_DEFAULT_NUM_RESULTS, SEGMENT_MAX_NUM_RESULTS)
        arn = record["batchSegmentJobArn"]
        self.create_resource(BATCH_SEGMENT_JOB, arn, record)
        return {"batchSegmentJobArn": arn}

    def describe_segment(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(BATCH_SEGMENT_JOB, params)

    def list_segment(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(BATCH_SEGMENT_JOB, params)

    def run_segments(self, job_arn: str) -> dict[str, Any]:
        """A segment of users for every item of the input; the members the job shows when ACTIVE."""
        from personalize_local.batch import ITEM_ID, segment_output
        from personalize_local.recommender import UserSegmenter
        from personalize_local.trainer import TrainedModel

        job = self.get(BATCH_SEGMENT_JOB, job_arn)
        version, _ = self._version_of(job)
        try:
            segmenter = UserSegmenter(TrainedModel.load(self.store.model_path(version["solutionVersionArn"])))
        except (OSError, ValueError) as exc:
            raise WorkFailed(f"Solution version {version['solutionVersionArn']} has no usable model: {exc}") from exc

        def answer(line: BatchLine) -> tuple[str, bool]:
            users = segmenter.top_users(line.key, job["numResults"])
            if users is None:
                error = f"line {line.number}: item {line.key} is not in the solution version's model"
                return segment_output(line.input, None, error), False
            return segment_output(line.input, users, None), True

        return self._run(job, ITEM_ID, answer, segment_output)

    # ---- the work both share ----------------------------------------------------------------------------------

    def _version_of(self, job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        version = self.store.get(SOLUTION_VERSION, job["solutionVersionArn"])
        if version is None or version.get("status") != ACTIVE:
            raise WorkFailed(f"Solution version {job['solutionVersionArn']} does not exist or is not ACTIVE.")
        if not self.store.model_path(version["solutionVersionArn"]).exists():
            raise WorkFailed(f"Solution version {job['solutionVersionArn']} has no trained model.")
        group = self.store.get(DATASET_GROUP, version["datasetGroupArn"])
        if group is None:
            raise WorkFailed(f"Dataset group {version['datasetGroupArn']} no longer exists.")
        return version, group

    def _run(
        self,
        job: dict[str, Any],
        id_field: str,
        answer: Callable[[BatchLine], tuple[str, bool]],
        format_line: Callable[[Any, Any, str], str],
    ) -> dict[str, Any]:
        """Read every input file, answer each line, then write each file's ``.out``; the job's counts."""
        from personalize_local.batch import ITEM_ID, MAX_INPUT_BYTES, MAX_SEGMENT_ITEMS, output_uri, read_lines

        location = job["jobInput"]["s3DataSource"]["path"]
        destination = job["jobOutput"]["s3DataDestination"]["path"]
        sources = self.s3.read(location, max_total_bytes=MAX_INPUT_BYTES)
        parsed = [(uri, read_lines(text, id_field)) for uri, text in sources]
        total = sum(len(lines) for _, lines in parsed)
        if id_field == ITEM_ID and total > MAX_SEGMENT_ITEMS:
            raise WorkFailed(
                f"The input at {location} lists {total} items; a batch segment job takes at most {MAX_SEGMENT_ITEMS}"
            )
        outputs, failed = [], 0
        for uri, lines in parsed:
            answered = []
            for line in lines:
                text, ok = (format_line(line.input, None, line.error), False) if line.error else answer(line)
                failed += not ok
                answered.append(text)
            outputs.append((output_uri(destination, uri), "".join(f"{text}\n" for text in answered)))
        for uri, text in outputs:
            self.s3.write(uri, text)
        return {"_numLines": total, "_numLineErrors": failed}
