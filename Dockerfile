# The Airflow image for docker-compose: the official image on Python 3.11 plus our pinned requirements and packages.
FROM apache/airflow:3.3.2-python3.11

USER airflow
WORKDIR /opt/airflow/project
COPY --chown=airflow:root requirements.txt pyproject.toml README.md ./
COPY --chown=airflow:root include ./include
COPY --chown=airflow:root plugins ./plugins
# Pinning apache-airflow again stops pip from moving the image's Airflow while resolving our requirements.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r requirements.txt
# The local endpoint's state volume mounts here; made by the airflow user so the volume is writable by it.
RUN mkdir -p /opt/airflow/personalize-data
