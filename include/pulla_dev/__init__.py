"""Development tooling: the demo, ``make airflow``, the local services, the demo shop and the benchmarks.

Nothing a production worker runs imports this package, so a production image can leave it out. It may import
anything of ours (the core, the Airflow glue, the provider, the local endpoint); nothing imports it back.
"""
