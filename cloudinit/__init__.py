"""cloud-config documents rendered from data (never by concatenating strings)."""

from .render import node_user_data, template_commands, template_user_data

__all__ = ["node_user_data", "template_commands", "template_user_data"]
