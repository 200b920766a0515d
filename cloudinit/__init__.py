"""cloud-config documents rendered from data (never by concatenating strings)."""

from .render import DEFAULT_MICROCEPH_CHANNEL, node_user_data, template_commands, template_user_data

__all__ = ["DEFAULT_MICROCEPH_CHANNEL", "node_user_data", "template_commands", "template_user_data"]
