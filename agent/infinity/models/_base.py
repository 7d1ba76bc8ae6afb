"""Base classes shared by every client API model.

Validators are built on a model's first use (`defer_build`): a bot meets a fraction of the
client API's ~100 shapes, and building the rest at import cost its start time and memory.
(tests/unit/test_lean_process.py builds every one, so a broken model still fails a test.)"""

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    """A shape the node sends: unknown fields are ignored (newer nodes add fields),
    missing required fields are rejected with the field's name."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class RequestBody(BaseModel):
    """A shape the client sends: a typo in a field name is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
