"""Airflow-free core of the Pulla → Amazon Personalize pipeline.

Everything here runs without Airflow and imports nothing else of ours: the source queries, the row rules, the
export and its checks, the schema linter, the configuration and the pipeline's decisions (``windows``). The Airflow
glue (``pulla_airflow``) calls it for the DAGs; the ``pulla-personalize`` console script exposes it to people.
"""

from pathlib import Path

#: ``include/``: the folder holding the schemas, the SQL and this package.
INCLUDE_DIR = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = INCLUDE_DIR / "schemas"
SQL_DIR = INCLUDE_DIR / "sql"
