"""Model integrity (OWASP LLM03): streaming digests, manifests, signatures and
safe GGUF reading, so that a model is checked before llama.cpp ever opens it."""
