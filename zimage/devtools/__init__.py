"""Tools for developing and testing the app without its production services (not imported by the app)."""
