"""Mass sends (群发): approval, planning, sending and reports, one module each.

- approval: draft checks, approve (someone else than the author, with `approve_masssend`),
  start (immediately or at `scheduled_at`), cancel, preview.
- planning: who receives it (target, consent, monthly quota) and the batches of openids.
- sending: each batch is one API call with its own clientmsgid, exactly once.
- events: MASSSENDJOBFINISH pushes; reports: the figures of a send.
"""
