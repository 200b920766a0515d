"""swarm-ceph components: one ComponentResource per file, pure rendering kept in plain functions."""
