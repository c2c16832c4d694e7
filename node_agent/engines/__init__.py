"""Inference engines the node agent runs models with (one module per backend).

Kept import-light on purpose: importing this package must not import a backend library, so a
node without, say, llama.cpp can still serve CTranslate2 models. Import the backend module
itself (`node_agent.engines.ctranslate2_engine`) where it is needed.
"""
