"""The Assets one Pulla DAG emits and another waits on, named once (Airflow matches them by name)."""

from __future__ import annotations

from airflow.sdk import Asset

#: Updated when the retrain DAG deploys a solution version to the campaign (created or updated).
LIVE_CAMPAIGN = Asset(name="pulla_personalize.live_campaign")
#: Updated when the weekly CRM picks are published (``crm/picks/latest/``): what the CRM sync waits on.
CRM_PICKS = Asset(name="pulla_personalize.crm_picks")
#: Updated when a launch audience is published (``crm/segments/<audience>/``).
CRM_SEGMENTS = Asset(name="pulla_personalize.crm_segments")
