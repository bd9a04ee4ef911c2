"""The service layer: what front-ends (CLI, API server, compose) ask the engine to do."""
