"""The three Personalize datasets this pipeline fills, named once: every module and DAG takes them from here."""

from __future__ import annotations

#: In the order the pipeline writes, publishes and imports them.
DATASET_TYPES: tuple[str, ...] = ("interactions", "users", "items")

#: The export's file of each dataset (also the file name in the run archive and the import partition).
FILE_NAMES: dict[str, str] = {dataset: f"{dataset}.csv" for dataset in DATASET_TYPES}

#: The ``datasetType`` Personalize calls each of them (CreateDataset, CreateSchema's domain-free types).
SERVICE_DATASET_TYPES: dict[str, str] = {dataset: dataset.capitalize() for dataset in DATASET_TYPES}
