"""The only I/O code in Kettle: the WSGI adapter (and, later, the ASGI one).

An adapter turns what the server hands over into a ``Request`` and an ``AppContext``,
lets :mod:`kettle.dispatch` produce the response, writes it back, and pops the
context. It holds no routing, hook or error policy of its own.
"""
