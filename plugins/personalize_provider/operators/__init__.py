"""Operators for Amazon Personalize and for staging import files on S3."""
