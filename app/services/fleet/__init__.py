"""Fleet: the inference nodes. Node registration and records (`nodes`), the manifest a node reads
(`manifest`), what a node's status may say (`status`), polling it (`polling`) over the guarded
HTTP session (`node_http`), telling nodes to sync (`notify`), each node's reports about its models
(`reports`) and its sampled history (`history`)."""
