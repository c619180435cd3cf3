"""The parts of ``digest.send``: what a send reports (``report``), what each batch carries
(``message``), the send of one issue (``job``), its batch loop (``batches``), how it ends
(``conclusion``) and the dry run (``dry_run``). Callers import from ``digest.send``."""
