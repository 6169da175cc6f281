"""The guarded OpenAI-compatible server (issue 7). Today it holds what the rate
limiter's middleware shares with it: OpenAI-style JSON errors
(`llmward.server.openai_errors`)."""
