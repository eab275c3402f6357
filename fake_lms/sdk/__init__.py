"""The LM Studio websocket RPC dialect: a sans-IO session and its namespaces."""
