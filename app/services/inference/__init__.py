"""Inference: the `/v1` path. Request validation (`openai_requests`), which nodes can serve a model
(`routing`), the per-model queue and node choice (`balancer`), the relay that forwards and fails over
(`relay`), and the pooled HTTP client to nodes with the address checks (`node_client`). Cloud
providers will join it as further upstream clients."""
