"""Node agent of the LLM router: keeps model files on this node and serves them to the runtimes.

Why a separate package: the router keeps model metadata only; each node downloads the weights
itself, straight from its configured Hugging Face Hub endpoint, and must survive being killed
mid-download. `store` owns the on-disk layout, `downloader` owns resumable HTTP transfers.
"""

__version__ = "0.1.0"
