"""The store's SQL for groups of batches (``batch_groups``, ``batch_group_members``),
mixed into ``ManifestStore``: a group is recorded before its first batch, each batch
joins it once created, and the refused files are added at the end."""

from __future__ import annotations

import json
from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection, text

from batch.exceptions import BatchNotFoundError
from batch.models import BatchGroup, RefusedFile
from batch.store._codec import from_iso, to_iso
from batch.store._dialect import each, json_list
from batch.store._url import StoreUrl

__all__ = ["GroupRecords"]

_INSERT_GROUP = text(
    "INSERT INTO batch_groups (group_id, created_at, flow_ref, sources, refused) "
    "VALUES (:group_id, :created_at, :flow_ref, :sources, '[]')"
)
_ADD_MEMBER = text(
    "INSERT INTO batch_group_members (group_id, batch_id, position) VALUES "
    "(:group_id, :batch_id, "
    "(SELECT COUNT(*) FROM batch_group_members WHERE group_id = :group_id))"
)
_SET_REFUSED = text("UPDATE batch_groups SET refused = :refused WHERE group_id = :group_id")
_GROUP = text("SELECT * FROM batch_groups WHERE group_id = :group_id")
_MEMBERS = text(
    "SELECT batch_id FROM batch_group_members WHERE group_id = :group_id ORDER BY position"
)
_PAGE = text(
    "SELECT group_id FROM batch_groups ORDER BY created_at DESC, group_id DESC "
    "LIMIT :limit OFFSET :offset"
)
_COUNT = text("SELECT COUNT(*) FROM batch_groups")


class _Transactions(Protocol):
    url: StoreUrl

    def _tx(self, *, write: bool = True) -> AbstractContextManager[Connection]: ...


class GroupRecords:
    """Groups of batches; needs the store's ``_tx`` (see ``ManifestStore``)."""

    def create_group(
        self: _Transactions, group_id: str, flow_ref: str, sources: Collection[str]
    ) -> None:
        """Record an empty group: its batches join it as they are created."""
        with self._tx() as conn:
            conn.execute(
                _INSERT_GROUP,
                {
                    "group_id": group_id,
                    "created_at": to_iso(datetime.now(UTC)),
                    "flow_ref": flow_ref,
                    "sources": json.dumps(list(sources), ensure_ascii=False),
                },
            )

    def add_to_group(self: _Transactions, group_id: str, batch_id: str) -> None:
        """Make ``batch_id`` the group's next batch."""
        with self._tx() as conn:
            conn.execute(_ADD_MEMBER, {"group_id": group_id, "batch_id": batch_id})

    def record_refused(
        self: _Transactions, group_id: str, refused: Collection[RefusedFile]
    ) -> None:
        """The files of the group that the CSV checks refused, with their errors."""
        document = json.dumps([r.model_dump() for r in refused], ensure_ascii=False)
        with self._tx() as conn:
            conn.execute(_SET_REFUSED, {"group_id": group_id, "refused": document})

    def find_group(self: _Transactions, group_id: str) -> BatchGroup | None:
        """The group, or None when ``group_id`` names no group (a batch id, say)."""
        with self._tx(write=False) as conn:
            row = conn.execute(_GROUP, {"group_id": group_id}).mappings().first()
            if row is None:
                return None
            members = conn.execute(_MEMBERS, {"group_id": group_id}).scalars().all()
        return BatchGroup.model_validate(
            {
                "group_id": row["group_id"],
                "created_at": from_iso(row["created_at"]),
                "flow_ref": row["flow_ref"],
                "sources": json.loads(row["sources"]),
                "batch_ids": list(members),
                "refused": json.loads(row["refused"]),
                "pruned": json.loads(row["pruned"]),
            }
        )

    def get_group(self: _Transactions, group_id: str) -> BatchGroup:
        """The group; ``BatchNotFoundError`` naming the id when there is none."""
        group = GroupRecords.find_group(self, group_id)
        if group is None:
            raise BatchNotFoundError(
                f"no group {group_id!r} in the manifest store "
                "(`batchwright list` shows each batch's group)"
            )
        return group

    def list_groups(
        self: _Transactions, *, limit: int, offset: int = 0
    ) -> tuple[list[BatchGroup], int]:
        """A page of the groups, newest first, and how many there are in all."""
        with self._tx(write=False) as conn:
            ids = conn.execute(_PAGE, {"limit": limit, "offset": offset}).scalars().all()
            total = int(conn.execute(_COUNT).scalar_one())
        found = (GroupRecords.find_group(self, str(group_id)) for group_id in ids)
        return [group for group in found if group is not None], total

    def groups_of(self: _Transactions, batch_ids: Collection[str]) -> dict[str, str]:
        """``batch_id -> group_id`` for those of ``batch_ids`` that belong to a group."""
        if not batch_ids:
            return {}
        query = (
            "SELECT batch_id, group_id FROM batch_group_members "
            f"WHERE batch_id IN {each(self.url.backend, 'ids')}"
        )
        with self._tx(write=False) as conn:
            rows = conn.execute(text(query), {"ids": json_list(batch_ids)}).all()
        return {str(batch_id): str(group_id) for batch_id, group_id in rows}
