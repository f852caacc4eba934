"""A local Amazon Personalize-compatible endpoint, so the pipeline runs end to end without an AWS account."""
