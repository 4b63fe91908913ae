"""The conversation: thin Rasa actions over the engine. All wording is in `messages`."""
