"""The XCom contract between the Pulla DAG tasks, named once.

The planning tasks return flat dicts (``multiple_outputs``: one XCom per key) that the operators downstream read
by key. Both sides take the key from here, so a renamed key fails at DAG parse time instead of at run time. The
dicts a task hands on whole are typed where they are built: ``pulla_personalize.windows.PlannedWindow`` (the
window) and ``pulla_airflow.run_archive.ExportSummary`` (what export_window returns).
"""

from __future__ import annotations

#: The run's configuration as its first task read it (``run_config.read_run_config``).
CONFIG = "config"

# The daily plan (find_datasets) and the resources found by name.
WINDOW = "window"
LABEL = "label"
ROLE_ARN = "role_arn"
DATASET_GROUP_ARN = "dataset_group_arn"
SOLUTION_ARN = "solution_arn"
CAMPAIGN_ARN = "campaign_arn"


def dataset_arn(kind: str) -> str:
    return f"{kind}_dataset_arn"


def import_mode(kind: str) -> str:
    return f"{kind}_import_mode"


def job_name(kind: str) -> str:
    return f"{kind}_job_name"


# The deletion plan (plan_deletion), besides DATASET_GROUP_ARN and ROLE_ARN.
DATA_LOCATION = "data_location"
DELETION_JOB_NAME = "job_name"

# The setup values (read_config).
DATASET_GROUP = "dataset_group"
SOLUTION_NAME = "solution_name"
RECIPE_ARN = "recipe_arn"
SOLUTION_CONFIG = "solution_config"
EVENT_TYPE = "event_type"
EVENT_TRACKER = "event_tracker"
FILTERS = "filters"


def schema_name(kind: str) -> str:
    return f"{kind}_schema"


def schema_path(kind: str) -> str:
    return f"{kind}_schema_path"


def dataset_name(kind: str) -> str:
    return f"{kind}_dataset"


# The retrain plan (prepare_retrain).
CAMPAIGN_NAME = "campaign_name"
CAMPAIGN_CONFIG = "campaign_config"
MIN_PROVISIONED_TPS = "min_provisioned_tps"
TRAINING_MODE = "training_mode"
FORCE_DEPLOY = "force_deploy"
MIN_RATIOS = "min_ratios"
SEGMENT_SOLUTION_ARN = "segment_solution_arn"

# A batch job's plan (plan_picks, plan_evaluation): what PersonalizeBatchInferenceJobOperator takes.
JOB_NAME = "job_name"
SOLUTION_VERSION_ARN = "solution_version_arn"
JOB_INPUT = "job_input_s3_path"
JOB_OUTPUT = "job_output_s3_path"
FILTER_ARN = "filter_arn"
JOB_CONFIG = "batch_inference_job_config"
NUM_RESULTS = "num_results"
WEEK = "week"
# The evaluation plan: one job per version measured (challenger, and the champion when one is live).
EVALUATION_JOBS = "evaluation_jobs"
LIVE_SOLUTION_VERSION_ARN = "live_solution_version_arn"

# The launch audiences: the setup's item-affinity solution (read_config of pulla_personalize_setup) and the segment
# plan (plan_segment of pulla_personalize_segment), besides ROLE_ARN.
SEGMENTS_ENABLED = "segments_enabled"
SEGMENT_SOLUTION_NAME = "segment_solution_name"
SEGMENT_RECIPE_ARN = "segment_recipe_arn"
SEGMENT_SOLUTION_CONFIG = "segment_solution_config"
SEGMENT_EVENT_TYPE = "segment_event_type"
AUDIENCE = "audience"
SEGMENT_ITEMS = "items"
SEGMENT_CRITERIA = "criteria"
SEGMENT_ITEMS_SOURCE = "items_source"
