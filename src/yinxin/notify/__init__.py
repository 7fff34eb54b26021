"""Notifications: message templates, delivery gateways behind one interface, and a send log."""
