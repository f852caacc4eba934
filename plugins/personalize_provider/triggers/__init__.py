"""Deferrable triggers for Amazon Personalize waits."""
