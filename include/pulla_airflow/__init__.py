"""Where Airflow meets the pipeline: the task bodies the DAGs call, policy defaults, notifiers and the chart link.

Besides the provider (``personalize_provider``) this is the only package of ours that imports Airflow. The core
(``pulla_personalize``) stays Airflow-free and never imports this package. ``policy`` and ``notify`` are imported
at DAG-file top level, so they import nothing heavy; the rest is imported inside tasks.
"""
