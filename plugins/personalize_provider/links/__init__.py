"""Console links for Personalize tasks and the plugin that registers them."""
