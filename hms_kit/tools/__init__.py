"""Measurement scripts run by hand (``python -m hms_kit.tools.<name>``); nothing in the
runtime imports them."""
