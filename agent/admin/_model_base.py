"""The base of every management API model: unknown fields are kept, not dropped."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

QUALITY_LABELS = ("0_unknown", "1_good", "2_ok", "3_bad", "4_terrible")


class AdminModel(BaseModel):
    """Tolerant by design: a newer manager's extra fields stay available in
    `unknown_fields` (and in `model_dump()`), missing optional fields get defaults."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @property
    def unknown_fields(self) -> dict[str, Any]:
        """Fields the manager sent that this model does not declare."""
        return dict(self.model_extra or {})


def quality_level(label: str | int | None) -> int | None:
    """`"3_bad"` -> 3 (0 Unknown … 4 Terrible); None when absent or unreadable."""
    if label is None or label == "":
        return None
    if isinstance(label, int):
        return label if 0 <= label <= 4 else None
    head = label.split("_", 1)[0]
    return int(head) if head.isdigit() and 0 <= int(head) <= 4 else None


def quality_label(level: int | None) -> str:
    """3 -> `"3_bad"`; None -> `"0_unknown"`."""
    return QUALITY_LABELS[level] if level is not None and 0 <= level <= 4 else QUALITY_LABELS[0]
