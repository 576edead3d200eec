"""Security: signatures, API keys, rate limit, hostile query parameters."""
