"""33GOD event harness: provision RabbitMQ + PostgreSQL, run or target Bloodbank/Candystore, verify them."""

__version__ = "0.1.0"
