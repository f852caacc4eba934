"""Hooks for Amazon Personalize (control plane, runtime, events)."""
