"""GoQuorum privacy on the node: manager client, private state, private execution."""
