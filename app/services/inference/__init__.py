"""Inference: the `/v1` path. Request validation (`openai_requests`), which nodes can serve a model
(`routing`), the per-model queue and node choice (`balancer`), the relay that forwards and fails over
(`relay`), and the pooled HTTP client to nodes with the address checks (`node_client`). Cloud
providers (`providers/`) translate the OpenAI format to each provider's and back; they will join the
relay as further upstream clients."""
