"""The web panel: one HTTP API (/api/v1) and server-rendered pages for admins and customers."""
