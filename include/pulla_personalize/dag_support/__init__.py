"""Pulla-specific Airflow glue that the DAG files share: policy defaults, the failure notifier and task bodies.

The core of ``pulla_personalize`` stays Airflow-free; this subpackage is where Airflow meets it. ``policy`` and
``notify`` are imported at DAG-file top level, so they import nothing heavy; ``tasks`` is imported inside tasks.
"""
