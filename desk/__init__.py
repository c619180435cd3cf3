"""The editors' desk: ``/desk`` in ``digest serve``, for the addresses in ``[newsletter]
editors``. Sign-in by emailed link; the coming issue with its reasons, pin, drop, note and
test copies; the numbers of past issues and of the list. It drives the same code as the
CLI (``digest.editor``, ``digest.coming``, ``digest.testcopy``, ``subscribers.workflow``)
and adds no rule of its own.

Modules: ``context`` (what every desk handler gets), ``auth`` (sign-in links, sessions,
CSRF), ``app`` (the routes, mounted by ``subscribers.web.app``), ``coming`` (the coming
issue), ``numbers`` (issues, clicks, readers, exports), ``charts`` (server-side SVG).
"""
