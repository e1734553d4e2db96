"""Converters from each foreign source kind into Git."""
