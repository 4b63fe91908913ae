"""The TPR assistant's action server, in three parts:

- `actions.tpr`: the pure engine (pandas, no Rasa import);
- `actions.conversation`: the Rasa actions and all their wording;
- `actions.service`: the HTTP service (upload, download) and the Redis-backed stores.
"""
