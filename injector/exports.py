"""One recorded session as the command line prints it and the service serves it: the
document (`injector session show --json`, GET /api/v1/sessions/ID) and the export of its
shots (`injector session export`, GET /api/v1/sessions/ID/export)."""

from __future__ import annotations

import csv
import io

from injector import documents
from injector.store import Store


def session_document(store: Store, session_id: int) -> dict:
    """The session with its alarms, state changes and the gaps the record knows it has
    (docs/schemas/session.json)."""
    return documents.session(store.session(session_id), store.alarms(session_id),
                             store.state_changes(session_id), store.gaps(session_id))


def session_export(store: Store, session_id: int) -> dict:
    """Every shot of the session with the session (docs/schemas/session-export.json)."""
    return documents.session_export(store.session(session_id), store.alarms(session_id),
                                    store.state_changes(session_id), store.gaps(session_id),
                                    store.shots(session_id))


def shots_csv(store: Store, session_id: int) -> str:
    store.session(session_id)                   # no such session: said, not an empty file
    shots = store.shots(session_id)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["session_id", *shots[0].keys()] if shots else
                            ["session_id", "shot_index"])
    writer.writeheader()
    for shot in shots:
        writer.writerow({"session_id": session_id, **shot})
    return out.getvalue()
