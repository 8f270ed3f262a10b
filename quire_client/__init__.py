"""The quire client: submit files, folders and archives to a quire server and fetch results.

Installed on users' machines, so it imports nothing from the server packages; its only
dependencies are ``httpx`` and ``tqdm``.
"""

from __future__ import annotations
