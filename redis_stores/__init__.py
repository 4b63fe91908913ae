"""Redis-backed lock store and tracker store that the Rasa replicas load from endpoints.yml."""
