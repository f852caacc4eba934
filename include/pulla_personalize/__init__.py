"""Airflow-free core of the Pulla → Amazon Personalize pipeline.

Everything here runs without Airflow: the DAGs in ``dags/`` only wire these functions together, and the
``pulla-personalize`` console script exposes them to people.
"""

from pathlib import Path

#: ``include/``: the folder holding the schemas, the SQL and this package.
INCLUDE_DIR = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = INCLUDE_DIR / "schemas"
SQL_DIR = INCLUDE_DIR / "sql"
