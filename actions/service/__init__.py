"""The HTTP service: upload and download routes, upload checks, and the dataset and result
stores in Redis. `server` runs it together with the rasa-sdk action endpoint."""
