"""The web UI, served by the API process under ``/ui``: server-rendered pages, a cookie
session made from an API key, a strict Content-Security-Policy, no CDN."""
