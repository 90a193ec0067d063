"""The shared contract: the RunSpec, the catalogue, the settings and the worker protocol.

Imports nothing of ours and no torch, FastAPI, SQLAlchemy or Celery: the API, the workers and the client all
import it.
"""
