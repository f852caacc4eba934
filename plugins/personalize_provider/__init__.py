"""Airflow glue for Amazon Personalize, shaped like apache-airflow-providers-amazon (hooks, operators, triggers)."""
