"""Custom boto waiter definitions for Personalize (``personalize.json``), shipped as package data of this package."""
