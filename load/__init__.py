"""Load runs with locust and a verdict against the service levels of SPEC §5."""
