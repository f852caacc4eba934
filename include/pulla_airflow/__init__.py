"""Where Airflow meets the pipeline: the task bodies the DAGs call, policy defaults, notifiers and the chart link.

Besides the provider (``personalize_provider``) this is the only package of ours that imports Airflow. The core
(``pulla_personalize``) stays Airflow-free and never imports this package. What a DAG file imports at its top
level (``dag_policy``, ``notify``, ``xcom_contract``, ``tasklog``, ``operators``, ``connections``) imports nothing
heavy; the task bodies (``plans``, ``run_archive``, ``resources``, ``metrics_history``) are imported inside tasks.
"""
