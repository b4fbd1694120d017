"""One module per JSON-RPC namespace; each exports `METHODS: dict[str, Method]`."""
