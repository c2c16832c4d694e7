"""What tests and benchmarks share, and nothing else imports: imitations of the world outside the
router (the Hugging Face Hub, a node's inference and management sides, a proxy that counts bytes),
starting real routers and clusters, the tiny models shipped as test data, and factories (request
bodies, API keys, signed-in browsers). Test modules import from here, never from one another or
from a conftest; `bench/` imports nothing else from `tests/`."""
