"""``ansflow``: the command-line client of the AnsFlow REST API and execution WebSocket.

It imports nothing from the server: only the standard library, ``requests`` and ``websockets``.
"""
