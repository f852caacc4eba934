"""A local Amazon Personalize-compatible endpoint, so the pipeline runs end to end without an AWS account.

Modules, from the wire inwards:

- ``server``: one HTTP port for the three wire protocols (control plane JSON 1.1, runtime and events REST-JSON),
  on uvicorn when installed, else the standard library's threading server; ``LocalEndpoint`` runs it in-process.
- ``service``: the operations, the asynchronous status lifecycle, error codes, import jobs, training jobs.
- ``state``: resources as JSON, dataset data as CSV and models as npz in the data directory; the scheduler.
- ``importer``: schema parsing and bulk CSV validation as an import job does it.
- ``trainer``: minimum-data rules, session stitching, the evaluation split and metrics, ALS training (implicit).
- ``recommender``: scoring, cold start by size, real-time updates from events, exploration, filters applied.
- ``filters``: the filter expression parser and evaluator.
- ``cli``: ``pulla-personalize local-endpoint``; ``bench``: the benchmarks; ``synthetic``: test data.
"""
