"""A local Amazon Personalize-compatible endpoint, so the pipeline runs end to end without an AWS account.

Modules, from the wire inwards:

- ``server``: one HTTP port for the three wire protocols (control plane JSON 1.1, runtime and events REST-JSON),
  on uvicorn when installed, else the standard library's threading server; ``LocalEndpoint`` runs it in-process.
- ``service``: puts the parts together and routes each control-plane operation to its handler.
- ``ops_schemas``, ``ops_datasets``, ``ops_imports``, ``ops_data_deletion``, ``ops_solutions``, ``ops_campaigns``,
  ``ops_event_trackers``, ``ops_filters``, ``ops_batch``: the control-plane handlers of each resource kind (the
  import, deletion, training and batch inference / batch segment work included); ``resources``: what they share;
  ``s3_data``: reading a job's files from S3 and writing its output files; ``recipes``: the recipes (Item-Affinity
  for batch segments included) and the training configuration a solution gets.
- ``kinds``: the table of resource kinds; ``lifecycle``: the status engine that reads it (asynchronous statuses,
  worker pools, in-place updates, resuming after a restart).
- ``schema_validation``: what CreateSchema and CreateDataset refuse in a schema, as the service does.
- ``serving``: GetRecommendations and PutEvents, with the in-memory indexes they answer from.
- ``state``: resources as JSON, dataset data as CSV and models as npz in the data directory; the scheduler.
- ``importer``: schema parsing and bulk CSV validation as an import job does it.
- ``deletion``: the user list a data deletion job reads, and which rows and events are a user's.
- ``batch``: the JSON lines a batch inference or batch segment job reads and writes (``<input file>.out``).
- ``trainer``: minimum-data rules, session stitching, the evaluation split and metrics, ALS training (implicit).
- ``recommender``: scoring, cold start by size, real-time updates from events, exploration, filters applied; the
  users an item's segment holds.
- ``filters``: the filter expression parser and evaluator.
- ``cli``: ``pulla-personalize local-endpoint``; ``bench``: the benchmarks; ``synthetic``: test data.
"""
