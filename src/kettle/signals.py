"""Blinker signals sent by Kettle.

Connect with ``signal.connect(receiver, app)``; the sender is always the real app
object. Receivers may be ``async def``: they run through ``app.ensure_sync``.
Kettle checks ``signal.receivers`` before sending, so an unused signal costs nothing.
"""

from __future__ import annotations

from blinker import Namespace as Namespace

__all__ = [
    "Namespace",
    "appcontext_popped",
    "appcontext_pushed",
    "appcontext_tearing_down",
    "before_render_template",
    "got_background_exception",
    "got_request_exception",
    "message_flashed",
    "request_finished",
    "request_started",
    "request_tearing_down",
    "template_rendered",
]

_signals = Namespace()

#: Sent when a context becomes active (``push``), before its URL is matched.
appcontext_pushed = _signals.signal("appcontext-pushed")
#: Sent when a context stops being active (``pop``), after its teardown if that ran.
appcontext_popped = _signals.signal("appcontext-popped")
#: Sent after the ``teardown_appcontext`` functions, with ``exc``.
appcontext_tearing_down = _signals.signal("appcontext-tearing-down")
#: Sent at the start of dispatch, before the URL value preprocessors.
request_started = _signals.signal("request-started")
#: Sent with ``response`` once the response is final (after ``after_request``).
request_finished = _signals.signal("request-finished")
#: Sent after the ``teardown_request`` functions, with ``exc``.
request_tearing_down = _signals.signal("request-tearing-down")
#: Sent with ``exception`` when an exception is not handled by an error handler.
got_request_exception = _signals.signal("got-request-exception")
#: Sent with ``exception`` when work started with ``kettle.spawn`` raised.
got_background_exception = _signals.signal("got-background-exception")
#: Sent with ``template`` and ``context`` after a template was rendered.
template_rendered = _signals.signal("template-rendered")
#: Sent with ``template`` and ``context`` before a template is rendered.
before_render_template = _signals.signal("before-render-template")
#: Sent with ``message`` and ``category`` when a message is flashed.
message_flashed = _signals.signal("message-flashed")
